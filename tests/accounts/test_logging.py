"""Passwords and tokens never reach a log record, even with every logger at DEBUG (where
botocore logs request parameters and response bodies)."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest
from starlette.applications import Starlette

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings
from cognito_asgi.accounts import SQLUserStore, record_loader
from tests.accounts.conftest import AppFactory, client_of, cognito_client
from tests.accounts.faults import fail_before
from tests.conftest import CognitoPool


def forms_of(secret: str) -> set[str]:
    """The spellings a secret can take in a log line: raw, JSON-escaped, repr-escaped."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        repr(json.dumps(secret).encode())[2:-1],
    }


def new_password(label: str) -> str:
    # A unique marker per password; the quote and backslash test the escaped spellings too.
    return f'Pw"{label}\\{secrets.token_hex(8)}!A1'


async def test_no_password_or_token_in_any_log_record_at_debug(
    cognito: CognitoPool, sqlite_url: str, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Sign-ups in both flows (one returning tokens), a weak password, a sign-up failing
    half-way and a DELETE /me, all with logging at DEBUG everywhere: no captured record, in
    any spelling, holds a password, a token or an auth session, while botocore's records of
    those calls were captured."""
    caplog.set_level(logging.DEBUG)
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    for name in levels:
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        await _sign_ups_and_scan(cognito, sqlite_url, make_app, caplog)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def _sign_ups_and_scan(
    cognito: CognitoPool, sqlite_url: str, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    passwords: list[str] = []
    tokens: list[str] = []
    client = cognito_client(cognito.endpoint)

    def keep_session(parsed: dict[str, Any], **_: Any) -> None:
        if "Session" in parsed:
            tokens.append(parsed["Session"])

    client.meta.events.register("after-call.cognito-idp.AdminInitiateAuth", keep_session)
    store = SQLUserStore(sqlite_url)
    challenge = make_app(store=store, cognito_client=client, accounts_return_tokens=True)
    set_password = make_app(
        store=store, cognito_client=client, accounts_password_flow="set_password"
    )
    failing_client = cognito_client(cognito.endpoint)
    fail_before(
        failing_client, "AdminRespondToAuthChallenge", error=("TooManyRequestsException", "slow")
    )
    failing = make_app(store=store, cognito_client=failing_client)
    settings = CognitoSettings.from_env(cognito.environ)
    protected = CognitoAuthMiddleware(
        Starlette(routes=[challenge.mount("/accounts")]),
        settings=settings,
        user_loader=record_loader(store),
    )

    async def sign_up(app: Any, label: str, password: str | None = None) -> Any:
        password = password or new_password(label)
        passwords.append(password)
        body = {"name": label, "email": f"{label}@example.com", "password": password}
        async with client_of(app) as http:
            response = await http.post("/", json=body)
        for form in forms_of(password):
            assert form not in response.text
        return response

    created = await sign_up(challenge, "challenge")
    assert created.status_code == 201, created.text
    issued = created.json()["tokens"]
    tokens.extend(issued[key] for key in ("access_token", "id_token", "refresh_token"))
    assert (await sign_up(set_password, "setpassword")).status_code == 201
    assert (await sign_up(challenge, "weak", "weakpassword")).status_code == 422
    assert (await sign_up(failing, "failing")).status_code == 503
    with caplog.at_level(logging.WARNING):
        # The browser's own sign-in, which is not this library's call to redact.
        signed_in = cognito.sign_in(created.json()["id"], passwords[0])
    tokens.extend([signed_in["AccessToken"], signed_in["IdToken"]])
    async with client_of(protected) as http:
        bearer = {"Authorization": f"Bearer {signed_in['AccessToken']}"}
        assert (await http.get("/accounts/me", headers=bearer)).status_code == 200
        assert (await http.delete("/accounts/me", headers=bearer)).status_code == 204

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [formatter.format(record) for record in caplog.records]
    assert len(tokens) == 7
    assert len(passwords) == 4
    for secret in passwords + tokens:
        for form in forms_of(secret):
            leaks = [text[:200] for text in texts if form in text]
            assert not leaks, f"a secret leaked into {len(leaks)} record(s): {leaks[:3]}"
    # The redacted records are still there, and still say which call they were about.
    for operation in (
        "AdminCreateUser",
        "AdminInitiateAuth",
        "AdminRespondToAuthChallenge",
        "AdminSetUserPassword",
        "AdminDeleteUser",
    ):
        assert any(
            r.name == "botocore.endpoint" and operation in r.getMessage() for r in caplog.records
        ), operation
    assert any(r.name == "botocore.parsers" for r in caplog.records)


def test_records_outside_a_cognito_call_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    """The redaction covers the accounts code's own calls only: the application's other
    botocore records keep their arguments."""
    caplog.set_level(logging.DEBUG, "botocore.endpoint")
    logging.getLogger("botocore.endpoint").debug("params: %s", {"x": "visible"})
    assert "visible" in caplog.records[-1].getMessage()
