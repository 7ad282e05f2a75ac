"""Bad sign-up requests get a clear 4xx with field errors, never a 500, and create nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cognito_asgi import CognitoSettings
from cognito_asgi.accounts import AccountsApp, SQLUserStore
from cognito_asgi.accounts._input import BadRequest, parse_sign_up
from tests.accounts.conftest import AppFactory, client_of, cognito_client

PASSWORD = "Correct-Horse-7-Battery"
GOOD = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def body(**changes: Any) -> bytes:
    data: dict[str, Any] = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


CASES = [
    # (content type, body, status, error code, field with an error or None)
    pytest.param(JSON, body(email="not-an-email"), 422, "invalid_input", "email", id="email-no-at"),
    pytest.param(JSON, body(email="a@b"), 422, "invalid_input", "email", id="email-no-tld"),
    pytest.param(JSON, body(email="a@@b.com"), 422, "invalid_input", "email", id="email-two-ats"),
    pytest.param(JSON, body(email="a b@c.com"), 422, "invalid_input", "email", id="email-space"),
    pytest.param(JSON, body(email=".a@c.com"), 422, "invalid_input", "email", id="email-dot"),
    pytest.param(JSON, body(email="a@-c.com"), 422, "invalid_input", "email", id="email-label"),
    pytest.param(
        JSON, body(email="a" * 65 + "@c.com"), 422, "invalid_input", "email", id="email-local-65"
    ),
    pytest.param(
        JSON, body(email="a@" + "b" * 250 + ".com"), 422, "invalid_input", "email", id="email-long"
    ),
    pytest.param(JSON, body(email=""), 422, "invalid_input", "email", id="email-empty"),
    pytest.param(JSON, body(email=7), 422, "invalid_input", "email", id="email-number"),
    pytest.param(JSON, body(email=...), 422, "invalid_input", "email", id="email-missing"),
    pytest.param(JSON, body(name=""), 422, "invalid_input", "name", id="name-empty"),
    pytest.param(JSON, body(name="   "), 422, "invalid_input", "name", id="name-blank"),
    pytest.param(JSON, body(name="n" * 257), 422, "invalid_input", "name", id="name-257"),
    pytest.param(JSON, body(name="a\x00b"), 422, "invalid_input", "name", id="name-nul"),
    pytest.param(JSON, body(name=None), 422, "invalid_input", "name", id="name-null"),
    pytest.param(JSON, body(name=["a"]), 422, "invalid_input", "name", id="name-list"),
    pytest.param(JSON, body(password=""), 422, "invalid_input", "password", id="password-empty"),
    pytest.param(
        JSON, body(password="Aa1!" * 64 + "x"), 422, "invalid_input", "password", id="password-257"
    ),
    pytest.param(
        JSON, body(password=" " + PASSWORD), 422, "invalid_input", "password", id="password-space"
    ),
    pytest.param(
        JSON, body(password=PASSWORD + "\n"), 422, "invalid_input", "password", id="password-nl"
    ),
    pytest.param(JSON, body(password=123456), 422, "invalid_input", "password", id="password-int"),
    pytest.param(JSON, body(admin=True), 422, "invalid_input", "admin", id="unknown-field"),
    pytest.param(JSON, b"{not json", 400, "invalid_json", None, id="invalid-json"),
    pytest.param(JSON, b"[1, 2]", 400, "invalid_json", None, id="json-array"),
    pytest.param(JSON, b'{"name": "a", "name": "b"}', 400, "invalid_json", None, id="json-dup"),
    pytest.param(JSON, b'{"name": NaN}', 400, "invalid_json", None, id="json-nan"),
    pytest.param(JSON, b'{"name": "\xff"}', 400, "invalid_json", None, id="json-not-utf8"),
    pytest.param(JSON, b"", 400, "invalid_json", None, id="json-empty-body"),
    pytest.param(JSON, b"[" * 5000 + b"]" * 5000, 400, "invalid_json", None, id="json-deep"),
    pytest.param(
        JSON + "; charset=latin-1", body(), 415, "unsupported_media_type", None, id="charset"
    ),
    pytest.param("text/plain", body(), 415, "unsupported_media_type", None, id="text-plain"),
    pytest.param(
        "multipart/form-data; boundary=x", body(), 415, "unsupported_media_type", None, id="multi"
    ),
    pytest.param(None, body(), 415, "unsupported_media_type", None, id="no-content-type"),
    pytest.param(FORM, b"name=a&name=b&email=x", 422, "invalid_input", "name", id="form-dup"),
    pytest.param(FORM, b"name=%ff&email=a", 400, "invalid_form", None, id="form-not-utf8"),
    pytest.param(FORM, b"garbage", 400, "invalid_form", None, id="form-malformed"),
    pytest.param(FORM, b"", 422, "invalid_input", "email", id="form-empty"),
    pytest.param(JSON, b" " * (16 * 1024 + 1), 413, "body_too_large", None, id="too-large"),
]


class Offline:
    """An AccountsApp whose boto3 client records every Cognito call it is asked to make."""

    def __init__(self, endpoint: str, database_url: str) -> None:
        settings = CognitoSettings(
            user_pool_id="us-east-1_NoCalls", client_ids=("nocalls",), endpoint_url=endpoint
        )
        client = cognito_client(endpoint)
        self.calls: list[str] = []
        client.meta.events.register(
            "before-call.cognito-idp", lambda model, **_: self.calls.append(model.name)
        )
        self.store = SQLUserStore(database_url)
        self.app = AccountsApp(
            settings, store=self.store, cognito_client=client, rate_limit="1000/minute"
        )


@pytest.fixture
async def offline(moto_endpoint: str, sqlite_url: str) -> AsyncIterator[Offline]:
    offline = Offline(moto_endpoint, sqlite_url)
    yield offline
    await offline.app.aclose()
    await offline.store.aclose()


@pytest.fixture
async def http(offline: Offline) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(offline.app) as client:
        yield client


@pytest.mark.parametrize(("content_type", "content", "status", "code", "field"), CASES)
async def test_bad_input_is_refused_with_field_errors(
    http: httpx.AsyncClient,
    offline: Offline,
    content_type: str | None,
    content: bytes,
    status: int,
    code: str,
    field: str | None,
) -> None:
    """Each bad request gets its 4xx status and JSON error code (and the offending field), the
    password is not echoed, no record is written and Cognito is never called."""
    headers = {"content-type": content_type} if content_type else {}
    response = await http.post("/", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert error["error"] == code
    assert error["error_description"]
    if field is not None:
        assert field in error["fields"]
    assert PASSWORD not in response.text
    assert offline.calls == []
    assert await offline.store.list_pending(datetime.now(UTC)) == []
    assert await offline.store.get_by_email("ada@example.com") is None


async def test_a_body_over_the_cap_is_refused_while_streaming(offline: Offline) -> None:
    """A chunked body with no Content-Length is refused with 413 as soon as it passes the cap,
    without reading the rest."""
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b"x" * 1024

    offline.app.max_body_size = 4096
    async with client_of(offline.app) as client:
        response = await client.post("/", content=chunks(), headers={"content-type": JSON})
    assert response.status_code == 413
    assert sent < 1000
    assert offline.calls == []


async def test_a_declared_oversized_body_is_refused_before_reading(offline: Offline) -> None:
    """A Content-Length above the cap is refused with 413 without reading the body."""
    offline.app.max_body_size = 100
    async with client_of(offline.app) as client:
        response = await client.post("/", content=b"x" * 101, headers={"content-type": JSON})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        pytest.param("GET", "/", 405, "POST", id="get-root"),
        pytest.param("PUT", "/", 405, "POST", id="put-root"),
        pytest.param("POST", "/me", 405, "GET, DELETE", id="post-me"),
        pytest.param("GET", "/nope", 404, None, id="unknown-path"),
        pytest.param("GET", "/me/x", 404, None, id="below-me"),
    ],
)
async def test_unknown_routes_and_methods(
    http: httpx.AsyncClient, method: str, path: str, status: int, allow: str | None
) -> None:
    """Other methods get 405 with Allow, other paths 404, both as JSON."""
    response = await http.request(method, path)
    assert response.status_code == status
    assert response.headers.get("allow") == allow
    assert response.json()["error"] in ("method_not_allowed", "not_found")


async def test_all_field_errors_are_reported_together(http: httpx.AsyncClient) -> None:
    """One response lists every bad field, so a form can mark them all at once."""
    response = await http.post("/", json={"name": "", "email": "nope", "password": "", "extra": 1})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"name", "email", "password", "extra"}


async def test_names_and_emails_are_trimmed(make_app: AppFactory) -> None:
    """Surrounding white space of name and email is dropped (passwords are taken as sent)."""
    async with client_of(make_app()) as http:
        response = await http.post(
            "/", json={"name": "  Ada  ", "email": " ada@example.com ", "password": PASSWORD}
        )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Ada"
    assert response.json()["email"] == "ada@example.com"
    datetime.fromisoformat(response.json()["created_at"]).astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(
    content_type=st.sampled_from([JSON, FORM, "text/plain", JSON + "; charset=utf-8"]),
    payload=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(
            st.sampled_from(["name", "email", "password", "x"]),
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=300)),
        ).map(lambda d: json.dumps(d).encode()),
    ),
)
def test_parsing_never_fails_other_than_with_a_bad_request(
    content_type: str, payload: bytes
) -> None:
    """Whatever the body, parsing either yields the three fields or raises BadRequest with a
    4xx status: no other exception can turn into a 500."""
    status = 200
    try:
        parsed = parse_sign_up(content_type.encode(), payload)
    except BadRequest as exc:
        status = exc.status
    else:
        assert parsed.name
        assert parsed.email
        assert parsed.password
    assert status in (200, 400, 413, 415, 422)
