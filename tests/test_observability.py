"""Refusals are logged once without the token; counters reach Prometheus."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.responses import PlainTextResponse

from cognito_asgi import CognitoAuthMiddleware
from cognito_asgi.prometheus import register
from cognito_asgi.testing import LocalIssuer


async def get(app: CognitoAuthMiddleware, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        return (await client.get("/things", headers=headers)).status_code


async def test_refusals_are_logged_once_with_reason_and_never_the_token(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each refusal is one INFO line with code and path; a verified subject only when known."""
    app = CognitoAuthMiddleware(PlainTextResponse("ok"), settings=issuer.settings(), groups=["x"])
    expired = issuer.access_token(exp=1000)
    valid = issuer.access_token("ivy")
    with caplog.at_level(logging.DEBUG, logger="cognito_asgi"):
        assert await get(app, expired) == 401
        assert await get(app, valid) == 403
        assert await get(app, None) == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "cognito_asgi"]
    assert lines[0] == "refused GET '/things': expired"
    assert lines[1].startswith("refused GET '/things': insufficient_scope sub=")
    assert lines[2] == "refused GET '/things': missing_token"
    assert len(lines) == 3
    for record in caplog.records:
        assert expired not in record.getMessage()
        assert valid not in record.getMessage()


async def test_prometheus_counters(issuer: LocalIssuer) -> None:
    """Accepted, refused by reason, cache hits and key fetches are exported as counters."""
    app = CognitoAuthMiddleware(PlainTextResponse("ok"), settings=issuer.settings())
    registry = CollectorRegistry()
    register(app.verifier, registry)
    token = issuer.access_token()
    for _ in range(3):
        assert await get(app, token) == 200
    assert await get(app, "bad") == 401
    assert await get(app, None) == 401
    text = generate_latest(registry).decode()
    assert "cognito_asgi_requests_accepted_total 3.0" in text
    assert 'cognito_asgi_requests_refused_total{reason="malformed"} 1.0' in text
    assert 'cognito_asgi_requests_refused_total{reason="missing_token"} 1.0' in text
    assert "cognito_asgi_token_cache_hits_total 2.0" in text
    assert "cognito_asgi_token_cache_misses_total 2.0" in text
    # The first use of the token and "bad" each came alone, one batch apiece.
    assert "cognito_asgi_verification_batches_total 2.0" in text
    assert "cognito_asgi_batched_requests_total 2.0" in text
    assert "cognito_asgi_token_cache_turned_away_total 0.0" in text
    assert "cognito_asgi_jwks_fetches_total 0.0" in text


async def test_prometheus_counts_the_tokens_a_full_cache_turns_away(issuer: LocalIssuer) -> None:
    app = CognitoAuthMiddleware(
        PlainTextResponse("ok"), settings=issuer.settings(token_cache_size=1)
    )
    registry = CollectorRegistry()
    register(app.verifier, registry)
    first, second = issuer.access_token("first"), issuer.access_token("second")
    for token in (first, second, second, second):
        assert await get(app, token) == 200
    text = generate_latest(registry).decode()
    # "second" was turned away once, taken in on its second verification, then a hit.
    assert "cognito_asgi_token_cache_turned_away_total 1.0" in text
    assert "cognito_asgi_token_cache_misses_total 3.0" in text
    assert "cognito_asgi_token_cache_hits_total 1.0" in text
