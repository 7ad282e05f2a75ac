"""Property tests: whatever arrives, the verifier and the middleware refuse it cleanly."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from cognito_asgi import CognitoAuthMiddleware, TokenError, TokenVerifier
from cognito_asgi.testing import LocalIssuer

# One pool for the module: key generation is the slow part, and nothing here changes it.
ISSUER = LocalIssuer()
VALID = ISSUER.access_token("alice", expires_in=24 * 3600)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
QUICK = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
headers_json = st.fixed_dictionaries(
    {
        "alg": st.sampled_from(["RS256", "none", "HS256", "RS384", "ES256"]) | json_values,
        "kid": st.sampled_from([ISSUER.kid, "other-kid", ""]) | json_values,
    },
    optional={"crit": json_values, "jku": json_values, "jwk": json_values, "typ": json_values},
)
claims_json = st.dictionaries(st.text(max_size=12), json_values, max_size=8) | st.builds(
    lambda changes: {**json.loads(base64.urlsafe_b64decode(VALID.split(".")[1] + "==")), **changes},
    st.dictionaries(
        st.sampled_from(["exp", "iss", "token_use", "client_id", "sub", "nbf", "iat", "scope"]),
        json_values,
        max_size=3,
    ),
)
# Tokens shaped like a JWS, so that inputs reach the signature check and the claims, not only
# the first parser.
jws_shaped = st.builds(
    lambda header, claims, signature: (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"
    ),
    headers_json,
    claims_json,
    st.binary(max_size=300) | st.binary(min_size=256, max_size=256),
)
token_text = (
    st.text(max_size=300)
    | st.text(alphabet=B64_ALPHABET + ".=+/ ", max_size=400)
    | st.binary(max_size=300).map(lambda data: data.decode("latin-1"))
    | jws_shaped
)


async def refuse(verifier: TokenVerifier, token: Any) -> TokenError:
    try:
        await verifier.verify(token)
    except TokenError as exc:
        return exc
    raise AssertionError("an arbitrary token was accepted")


@QUICK
@given(token=token_text | st.binary(max_size=100) | st.none() | st.integers())
async def test_arbitrary_tokens_only_raise_token_errors(token: Any) -> None:
    """Any string, byte string or other object given to verify() is refused with a TokenError."""
    verifier = TokenVerifier(ISSUER.settings())
    error = await refuse(verifier, token)
    assert error.code


@dataclass(frozen=True)
class Mutation:
    kind: str
    position: int
    char: str

    def apply(self, token: str) -> str:
        at = self.position % (len(token) + 1)
        if self.kind == "flip":
            at = min(at, len(token) - 1)
            return token[:at] + self.char + token[at + 1 :]
        if self.kind == "insert":
            return token[:at] + self.char + token[at:]
        if self.kind == "delete":
            at = min(at, len(token) - 1)
            return token[:at] + token[at + 1 :]
        parts = token.split(".")
        order = [(self.position + n) % len(parts) for n in range(len(parts))]
        if self.kind == "rotate":
            return ".".join(parts[n] for n in order)
        # "swap": exchange two segments chosen by position and char
        first, second = self.position % len(parts), ord(self.char[0]) % len(parts)
        parts[first], parts[second] = parts[second], parts[first]
        return ".".join(parts)


mutations = st.builds(
    Mutation,
    st.sampled_from(["flip", "flip", "insert", "delete", "rotate", "swap"]),
    st.integers(0, 2000),
    st.sampled_from(list(B64_ALPHABET + ".=+/ \t\x00\x7fé")) | st.characters(),
)


@QUICK
@given(steps=st.lists(mutations, min_size=1, max_size=4))
async def test_mutated_tokens_never_authenticate(steps: list[Mutation]) -> None:
    """A valid token changed in any way is refused, unless the change gave back the same bytes."""
    verifier = TokenVerifier(ISSUER.settings())
    await verifier.verify(VALID)  # cached: a mutation must not be taken for this entry
    token = VALID
    for step in steps:
        token = step.apply(token)
    if token == VALID:
        assert (await verifier.verify(token))["username"] == "alice"
    else:
        await refuse(verifier, token)


def near_valid() -> st.SearchStrategy[str]:
    return (
        st.lists(mutations, min_size=1, max_size=3)
        .map(lambda steps: _apply_all(VALID, steps))
        .filter(lambda token: token != VALID)
    )


def _apply_all(token: str, steps: list[Mutation]) -> str:
    for step in steps:
        token = step.apply(token)
    return token


authorization_values = st.binary(max_size=200) | st.builds(
    lambda scheme, token: scheme + b" " + token.encode("utf-8", "surrogatepass"),
    st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"Basic", b"", b"Bearer "]),
    near_valid() | token_text,
)
header_names = st.sampled_from(
    [b"authorization", b"cookie", b"host", b"sec-websocket-protocol", b"content-length"]
) | st.binary(min_size=1, max_size=20)
header_lists = st.lists(
    st.tuples(header_names, st.binary(max_size=120))
    | st.tuples(st.just(b"authorization"), authorization_values)
    | st.tuples(
        st.just(b"cookie"),
        st.builds(lambda t: b"session=" + t.encode("utf-8", "surrogatepass"), near_valid()),
    ),
    max_size=8,
)


class Recorder:
    """The protected app: notes whether it ever saw an authenticated user."""

    def __init__(self) -> None:
        self.authenticated: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.authenticated.append(bool(scope["user"].is_authenticated))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await send({"type": "websocket.close", "code": 1000})


@QUICK
@given(
    kind=st.sampled_from(["http", "http", "websocket"]),
    method=st.sampled_from(["GET", "POST", "OPTIONS"]) | st.text(min_size=1, max_size=12),
    path=st.sampled_from(["/", "/public", "/public/x", "/publicity", "/private"])
    | st.text(max_size=40),
    headers=header_lists,
    query=st.binary(max_size=80)
    | st.builds(lambda t: b"access_token=" + t.encode("utf-8", "surrogatepass"), near_valid()),
    subprotocols=st.lists(st.text(max_size=30) | near_valid().map("bearer.".__add__), max_size=3),
    http_response_extension=st.booleans(),
)
async def test_arbitrary_requests_never_500_and_never_authenticate(
    kind: str,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    subprotocols: list[str],
    http_response_extension: bool,
) -> None:
    """Arbitrary methods, paths, header lists and token sources: a clean answer, never a user."""
    recorder = Recorder()
    app = CognitoAuthMiddleware(
        recorder,
        settings=ISSUER.settings(),
        public_paths=["/public"],
        token_cookie="session",
        websocket_query_param="access_token",
        websocket_subprotocol_prefix="bearer.",
    )
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    if kind == "http":
        scope["method"] = method
    else:
        scope["subprotocols"] = subprotocols
        if http_response_extension:
            scope["extensions"] = {"websocket.http.response": {}}
    sent: list[Message] = []

    async def receive() -> Message:
        if kind == "http":
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert not any(recorder.authenticated)
    statuses = [m["status"] for m in sent if m["type"].endswith("response.start")]
    assert all(status in (200, 400, 401) for status in statuses), statuses
    if kind == "http":
        assert len(statuses) == 1
    else:
        assert statuses or any(m["type"] == "websocket.close" for m in sent)
