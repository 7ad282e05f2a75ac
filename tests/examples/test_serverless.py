"""examples/serverless: the SAM template passes cfn-lint, and the Mangum handler answers API
Gateway HTTP API (payload 2.0) events in-process."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]
from cfnlint.decode import decode  # type: ignore[import-untyped]
from starlette.applications import Starlette

from cognito_asgi import CognitoSettings
from cognito_asgi.testing import LocalIssuer
from examples.serverless import handler as lambda_module
from examples.serverless.handler import create_app, make_handler
from tests.conftest import CognitoPool
from tests.examples.conftest import PASSWORD

TEMPLATE = Path(lambda_module.__file__).with_name("template.yaml")


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@pytest.fixture
def lambda_handler() -> Iterator[Callable[..., Handler]]:
    """Builds Mangum handlers as the Lambda runtime runs them, on the thread's event loop,
    and closes their user stores afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stores: list[Any] = []

    def build(settings: CognitoSettings, **options: Any) -> Handler:
        app = create_app(settings, **options)
        stores.append(app.state.store)
        return make_handler(app)

    try:
        yield build
    finally:
        for store in stores:
            loop.run_until_complete(store.aclose())
        asyncio.set_event_loop(None)
        loop.close()


def http_api_event(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: str | None = None
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0, as Lambda receives it."""
    all_headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": all_headers["host"],
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": "req-1",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "01/Jan/2030:00:00:00 +0000",
            "timeEpoch": 1893456000000,
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "body": body,
        "isBase64Encoded": False,
    }


def body_of(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw)


def test_template_passes_cfn_lint() -> None:
    """cfn-lint reports nothing about the SAM template."""
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1"]))
    assert [str(match) for match in matches] == []


def test_template_sets_up_the_pool_and_a_least_privilege_policy() -> None:
    """The pool is admin-only with the email alias, the client has no secret and the design's
    flows, and the function may call only Cognito admin actions, on that pool's ARN alone."""
    template, problems = decode(str(TEMPLATE))
    assert not problems
    assert template is not None
    resources = template["Resources"]
    pool = resources["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["AliasAttributes"] == ["email"]
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert sorted(client["ExplicitAuthFlows"]) == [
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_SRP_AUTH",
    ]
    function = resources["ApiFunction"]["Properties"]
    assert function["Environment"]["Variables"]["COGNITO_ACCOUNTS_DATABASE_URL"] == {
        "Ref": "DatabaseUrl"
    }
    assert template["Parameters"]["DatabaseUrl"]["NoEcho"] is True
    statements = function["Policies"][0]["Statement"]
    assert len(statements) == 1
    assert statements[0]["Resource"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
    assert all(action.startswith("cognito-idp:Admin") for action in statements[0]["Action"])


def test_policy_covers_every_cognito_call_of_the_accounts_endpoints(
    cognito: CognitoPool, tmp_path: Path, lambda_handler: Callable[..., Handler]
) -> None:
    """Each Cognito operation the handler's app makes while creating (both password flows) and
    deleting accounts is allowed by the template's policy."""
    template, _ = decode(str(TEMPLATE))
    assert template is not None
    allowed = {
        action.removeprefix("cognito-idp:")
        for action in template["Resources"]["ApiFunction"]["Properties"]["Policies"][0][
            "Statement"
        ][0]["Action"]
    }
    called: set[str] = set()
    app_client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=cognito.endpoint)
    app_client.meta.events.register(
        "before-call.cognito-idp", lambda model, **_: called.add(model.name)
    )
    for number, flow in enumerate(("challenge", "set_password")):
        settings = CognitoSettings.from_env(
            {
                **cognito.environ,
                "COGNITO_ACCOUNTS_PASSWORD_FLOW": flow,
                "COGNITO_ACCOUNTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'u.sqlite3'}",
            }
        )
        handler = lambda_handler(settings, cognito_client=app_client)
        email = f"user{number}@example.com"
        created = handler(
            http_api_event(
                "POST",
                "/accounts",
                headers={"content-type": "application/json"},
                body=json.dumps({"name": "Ada", "email": email, "password": PASSWORD}),
            ),
            None,
        )
        assert created["statusCode"] == 201, created
        username = body_of(created)["id"]
        token = cognito.sign_in(username, PASSWORD)["AccessToken"]
        deleted = handler(
            http_api_event("DELETE", "/accounts/me", headers={"authorization": f"Bearer {token}"}),
            None,
        )
        assert deleted["statusCode"] == 204, deleted
    assert called
    assert called <= allowed, f"not allowed by the policy: {sorted(called - allowed)}"


@pytest.mark.parametrize(
    ("token_kind", "status"),
    [
        pytest.param("valid", 200, id="valid-token"),
        pytest.param(None, 401, id="no-token"),
        pytest.param("expired", 401, id="expired-token"),
        pytest.param("other-pool", 401, id="token-of-another-pool"),
    ],
)
def test_handler_answers_an_http_api_event(
    issuer: LocalIssuer,
    tmp_path: Path,
    lambda_handler: Callable[..., Handler],
    token_kind: str | None,
    status: int,
) -> None:
    """GET /me through the Lambda handler answers 200 with the user for a valid token, and
    401 with the RFC 6750 challenge otherwise."""
    settings = issuer.settings(
        accounts_database_url=f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}"
    )
    handler = lambda_handler(settings)
    headers = {}
    if token_kind == "valid":
        headers["authorization"] = f"Bearer {issuer.access_token('alice')}"
    elif token_kind == "expired":
        headers["authorization"] = f"Bearer {issuer.access_token('alice', expires_in=-600)}"
    elif token_kind == "other-pool":
        stranger = LocalIssuer(user_pool_id="us-east-1_Stranger1")
        headers["authorization"] = f"Bearer {stranger.access_token('alice')}"
    response = handler(http_api_event("GET", "/me", headers=headers), None)
    assert response["statusCode"] == status
    if status == 200:
        assert body_of(response) == {"username": "alice", "groups": [], "record": None}
    else:
        assert response["headers"]["www-authenticate"].startswith('Bearer realm="api"')
        assert body_of(response)["error"]
    health = handler(http_api_event("GET", "/health", headers=headers), None)
    assert health["statusCode"] == 200


def test_module_handler_reads_the_environment_once(
    issuer: LocalIssuer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lambda_handler: Callable[..., Handler],
) -> None:
    """`handler.handler`, the function's entry point, builds the app from the COGNITO_*
    environment on its first event and answers both kinds of request."""
    monkeypatch.setattr(lambda_module, "_handler", None)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_JSON", issuer.jwks_json())
    monkeypatch.setenv(
        "COGNITO_ACCOUNTS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}"
    )
    anonymous = lambda_module.handler(http_api_event("GET", "/me"), None)
    assert anonymous["statusCode"] == 401
    first = lambda_module._handler
    token = issuer.access_token("bob")
    signed_in = lambda_module.handler(
        http_api_event("GET", "/me", headers={"authorization": f"Bearer {token}"}), None
    )
    assert signed_in["statusCode"] == 200
    assert body_of(signed_in)["username"] == "bob"
    assert first is not None
    assert lambda_module._handler is first
    app = first.app
    assert isinstance(app, Starlette)
    asyncio.get_event_loop().run_until_complete(app.state.store.aclose())
