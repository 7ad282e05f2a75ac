"""Shared fixtures: a local signing pool, and moto's Cognito server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from starlette.types import Message, Scope

from cognito_asgi import ClaimError, Claims, TokenVerifier
from cognito_asgi.testing import LocalIssuer

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp.literals import ExplicitAuthFlowsTypeType

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Headless Chromium as root on a machine without outside network: no sandbox, and none of the
# background connections that would only be refused.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_program(name: str, how: str) -> str:
    """The path of `name`; skip (on a laptop) or fail (in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; {how}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's HTTP server, started once, bound to 127.0.0.1 on a free port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3 needs some credentials; these never leave 127.0.0.1.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in list(os.environ):
        if name.startswith("COGNITO_"):
            monkeypatch.delenv(name)


@dataclass
class CognitoPool:
    endpoint: str
    client: Any  # a boto3 cognito-idp client
    user_pool_id: str
    client_id: str
    other_client_id: str

    @property
    def environ(self) -> dict[str, str]:
        """The COGNITO_* variables that point the library at this emulated pool."""
        return {
            "COGNITO_USER_POOL_ID": self.user_pool_id,
            "COGNITO_CLIENT_ID": self.client_id,
            "COGNITO_ENDPOINT_URL": self.endpoint,
        }

    def create_user(self, username: str, password: str, email: str | None = None) -> None:
        attributes = [{"Name": "email", "Value": email or f"{username}@example.com"}]
        attributes.append({"Name": "email_verified", "Value": "true"})
        self.client.admin_create_user(
            UserPoolId=self.user_pool_id,
            Username=username,
            TemporaryPassword=password,
            MessageAction="SUPPRESS",
            UserAttributes=attributes,
        )
        self.client.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=username, Password=password, Permanent=True
        )

    def sign_in(self, username: str, password: str, client_id: str | None = None) -> Any:
        """USER_PASSWORD_AUTH, as a browser's SDK would do it; returns AuthenticationResult."""
        response = self.client.initiate_auth(
            ClientId=client_id or self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        return response["AuthenticationResult"]


def create_pool(endpoint: str, name: str = "test-pool") -> CognitoPool:
    client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=endpoint)
    pool = client.create_user_pool(
        PoolName=name,
        AliasAttributes=["email"],
        AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]
    flows: list[ExplicitAuthFlowsTypeType] = [
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]
    app_client = client.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="web", ExplicitAuthFlows=flows, GenerateSecret=False
    )["UserPoolClient"]
    other = client.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="other", ExplicitAuthFlows=flows, GenerateSecret=False
    )["UserPoolClient"]
    return CognitoPool(endpoint, client, pool["Id"], app_client["ClientId"], other["ClientId"])


@pytest.fixture
def cognito(moto_endpoint: str) -> Iterator[CognitoPool]:
    """A fresh user pool with two app clients in the emulator, reset after the test."""
    yield create_pool(moto_endpoint)
    httpx.post(f"{moto_endpoint}/moto-api/reset")


async def call_asgi(app: Any, scope: Scope) -> tuple[int, dict[str, str], bytes]:
    """Call an ASGI app as a server would, with no request body; return what it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], headers, body


def cached_tokens(verifier: TokenVerifier) -> list[str]:
    """The tokens in `verifier`'s cache, least recently used first."""
    return [entry.authorization.decode()[len("Bearer ") :] for entry in verifier._cache.values()]


def deny_list(claim: str, reason: str) -> tuple[set[str], Callable[[Claims], None]]:
    """A custom_check that refuses, with `reason`, the tokens whose `claim` is in the set it
    comes with (empty at first)."""
    denied: set[str] = set()

    def check(claims: Claims) -> None:
        if claims[claim] in denied:
            raise ClaimError(claim, reason)

    return denied, check
