"""Tokens of concurrent requests verified in batches: same answers, one batch per loop turn."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from cognito_asgi import CognitoAuthMiddleware, TokenVerifier
from cognito_asgi.testing import JWKSServer, LocalIssuer
from tests.conftest import call_asgi


async def echo_user(scope: Scope, receive: Receive, send: Send) -> None:
    body = json.dumps({"username": scope["user"].display_name}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def request(app: Any, token: str) -> tuple[int, dict[str, Any]]:
    """One GET through the ASGI app: its status and JSON body."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/private",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }
    status, _, body = await call_asgi(app, scope)
    return status, json.loads(body)


def batches(app: CognitoAuthMiddleware) -> tuple[int, int]:
    """How many batches the app verified, and how many requests they held."""
    stats = app.verifier.stats
    return stats.verification_batches, stats.batched_requests


async def test_concurrent_requests_get_their_own_answers_from_one_batch(
    issuer: LocalIssuer,
) -> None:
    """Valid, forged, expired, malformed and repeated tokens, all in one batch: each request
    gets its own user or its own refusal."""
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    valid = {f"user{n}": issuer.access_token(f"user{n}") for n in range(12)}
    head, payload, _ = valid["user0"].split(".")
    # user1's signature, so it ends as user1's token does: the batch must not take it for it
    forged = f"{head}.{payload}.{valid['user1'].split('.')[2]}"
    cases: list[tuple[str, int, str]] = [(t, 200, name) for name, t in valid.items()]
    cases += [
        (valid["user3"], 200, "user3"),  # the same token twice in one batch
        (forged, 401, "bad_signature"),
        (issuer.access_token("late", expires_in=-60), 401, "expired"),
        ("not-a-jwt", 401, "malformed"),
    ]

    answers = await asyncio.gather(*(request(app, token) for token, _, _ in cases))

    assert batches(app) == (1, len(cases))
    for (status, body), (_, expected_status, expected) in zip(answers, cases, strict=True):
        assert status == expected_status
        assert body.get("username", body.get("error")) == expected
    stats = app.verifier.stats
    assert (stats.cache_hits, stats.cache_misses) == (1, len(cases) - 1)
    assert stats.accepted == len(valid) + 1


async def test_each_loop_turn_makes_its_own_batch(issuer: LocalIssuer) -> None:
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    for wave in range(3):
        tokens = [issuer.access_token(f"wave{wave}-{n}") for n in range(wave + 2)]
        answers = await asyncio.gather(*(request(app, token) for token in tokens))
        assert {status for status, _ in answers} == {200}
    assert batches(app) == (3, 2 + 3 + 4)
    # A new token alone makes a batch of one; once cached it is answered before any batch.
    again = issuer.access_token("again")
    assert (await request(app, again))[0] == 200
    assert (await request(app, again))[0] == 200
    assert batches(app) == (4, 10)


async def test_a_cancelled_request_leaves_the_rest_of_its_batch_alone(
    issuer: LocalIssuer,
) -> None:
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    tasks = [asyncio.create_task(request(app, issuer.access_token(f"u{n}"))) for n in range(3)]
    await asyncio.sleep(0)  # every request is now waiting for the batch
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[0] == (200, {"username": "u0"})
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[2] == (200, {"username": "u2"})
    assert batches(app) == (1, 3)


async def test_a_token_whose_keys_must_be_fetched_waits_for_them_in_its_request(
    issuer: LocalIssuer,
) -> None:
    with JWKSServer.running(issuer) as server:
        settings = issuer.settings(jwks_json=None, jwks_url=server.url)
        app = CognitoAuthMiddleware(echo_user, settings=settings, fetch_keys_at_startup=False)
        cold = [issuer.access_token(f"cold{n}") for n in range(20)]
        answers = await asyncio.gather(*(request(app, token) for token in cold))
        assert [body["username"] for _, body in answers] == [f"cold{n}" for n in range(20)]
        assert server.requests == 1
        warm = [issuer.access_token(f"warm{n}") for n in range(5)]
        answers = await asyncio.gather(*(request(app, token) for token in warm))
        assert {status for status, _ in answers} == {200}
    assert batches(app) == (2, 25)
    # The cold ones were verified (and counted) once each, by authenticate().
    assert app.verifier.stats.cache_misses == 25


def test_batches_belong_to_their_event_loop(issuer: LocalIssuer) -> None:
    """An app serving from two event loops: a batch left in one does not hold up the other."""
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    first = asyncio.new_event_loop()
    try:
        waiting = first.create_task(request(app, issuer.access_token("first")))
        first.call_soon(first.stop)
        first.run_forever()  # one turn: the request waits for a batch not yet verified
        assert not waiting.done()

        async def second() -> tuple[int, dict[str, Any]]:
            return await asyncio.wait_for(request(app, issuer.access_token("second")), 5)

        assert asyncio.run(second()) == (200, {"username": "second"})
        assert first.run_until_complete(waiting) == (200, {"username": "first"})
    finally:
        first.close()


def test_event_loops_in_two_threads_gather_their_own_batches(issuer: LocalIssuer) -> None:
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    tokens = {name: [issuer.access_token(f"{name}{n}") for n in range(5)] for name in "ab"}
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    both_running = threading.Barrier(2, timeout=10)

    def serve(name: str) -> None:
        async def requests() -> list[tuple[int, dict[str, Any]]]:
            both_running.wait()
            return await asyncio.gather(*(request(app, token) for token in tokens[name]))

        answers[name] = asyncio.run(requests())

    threads = [threading.Thread(target=serve, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for name in "ab":
        assert answers[name] == [(200, {"username": f"{name}{n}"}) for n in range(5)]
    assert batches(app) == (2, 10)


def test_requests_their_batch_did_not_reach_verify_their_own_tokens(
    issuer: LocalIssuer,
) -> None:
    """A KeyboardInterrupt ends a batch early: its requests, once the loop runs again, verify
    their tokens themselves instead of waiting for ever."""
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    interrupted: list[str] = []

    def interrupt(token: str) -> None:
        interrupted.append(token)
        raise KeyboardInterrupt

    app.verifier._authenticate_now = interrupt  # type: ignore[method-assign]
    loop = asyncio.new_event_loop()
    try:
        tokens = [issuer.access_token(f"u{n}") for n in range(3)]
        tasks = [loop.create_task(request(app, token)) for token in tokens]
        everything = asyncio.gather(*tasks)
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(everything)
        assert not any(task.done() for task in tasks)
        answers = loop.run_until_complete(everything)
    finally:
        loop.close()
    assert answers == [(200, {"username": f"u{n}"}) for n in range(3)]
    assert interrupted == tokens[:1]
    assert batches(app) == (1, 3)


async def test_verifiers_with_their_own_verify_or_checks_are_not_batched(
    issuer: LocalIssuer,
) -> None:
    """A subclass's verify() and a custom check are never bypassed; batching can be turned off."""
    seen: list[str] = []

    class Auditing(TokenVerifier):
        async def verify(self, token: str) -> Any:
            seen.append("verify")
            return await super().verify(token)

    def check(claims: Any) -> None:
        seen.append("check")

    apps = [
        CognitoAuthMiddleware(echo_user, verifier=Auditing(issuer.settings())),
        CognitoAuthMiddleware(
            echo_user, verifier=TokenVerifier(issuer.settings(), custom_check=check)
        ),
        CognitoAuthMiddleware(echo_user, settings=issuer.settings(), batch_verification=False),
    ]
    for app in apps:
        tokens = [issuer.access_token(f"u{n}") for n in range(3)]
        answers = await asyncio.gather(*(request(app, token) for token in tokens))
        assert [body["username"] for _, body in answers] == ["u0", "u1", "u2"]
        assert batches(app) == (0, 0)
        assert app.verifier.stats.cache_misses == 3
    assert seen == ["verify"] * 3 + ["check"] * 3


def test_without_an_asyncio_loop_each_request_verifies_its_own_token(
    issuer: LocalIssuer,
) -> None:
    """Under another event loop (trio, say) there is no asyncio loop to batch in."""
    app = CognitoAuthMiddleware(echo_user, settings=issuer.settings())
    # Driven by hand, as another loop would: nothing here awaits I/O (the keys are preloaded).
    coroutine = request(app, issuer.access_token("solo"))
    with pytest.raises(StopIteration) as done:
        coroutine.send(None)
    assert done.value.value == (200, {"username": "solo"})
    assert batches(app) == (0, 0)
