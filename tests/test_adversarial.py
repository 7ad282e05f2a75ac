"""The adversarial corpus (tests/data/adversarial.json) through the real middleware.

Every case is a recipe: the keys are made when the tests run, so the data file says how to build
each bad token and request, and the status and error code it must get. None may reach the app,
none may be a 500, and the token never comes back in the answer.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.errors import JoseError
from starlette.types import Receive, Scope, Send

from cognito_asgi import CognitoAuthMiddleware
from cognito_asgi.testing import REMOVE, LocalIssuer
from tests.conftest import call_asgi

CORPUS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "adversarial.json").read_text(encoding="utf-8")
)
CASES: list[dict[str, Any]] = CORPUS["cases"]
RAW_FIELDS = ("header_json", "header_extra", "payload_json", "payload_extra")
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class Keys:
    pool: LocalIssuer
    attacker: LocalIssuer
    ec_key: ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        LocalIssuer(), LocalIssuer(kid="attacker-key"), ec.generate_private_key(ec.SECP256R1())
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    return dict(json.loads(unb64(token.split(".")[1])))


def resolve(value: Any, keys: Keys) -> Any:
    """Replace the corpus's `$name` placeholders in a claim or header value."""
    if isinstance(value, dict):
        return {name: resolve(item, keys) for name, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, keys) for item in value]
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    if value.startswith("$now"):
        return int(time.time()) + int(value[4:])
    if value.startswith("$text:"):
        return "x" * int(value[6:])
    fixed: dict[str, Any] = {
        "$kid": keys.pool.kid,
        "$attacker_kid": keys.attacker.kid,
        "$attacker_jwk": keys.attacker.key.as_dict(private=False),
        "$remove": REMOVE,
    }
    return fixed[value]


def expand(text: str, keys: Keys) -> str:
    """Expand `{kid}`, `{nested:N}` and `{text:N}` in raw JSON text."""

    def one(match: re.Match[str]) -> str:
        name, _, count = match.group(1).partition(":")
        if name == "kid":
            return keys.pool.kid
        if name == "nested":
            return "[" * int(count) + "]" * int(count)
        return "x" * int(count)

    return re.sub(r"\{(kid|nested:\d+|text:\d+)\}", one, text)


def sign(keys: Keys, signer: str, alg: str, data: bytes) -> bytes:
    """A real signature of `data` by `signer` with `alg`, whatever the verifier thinks of it."""
    if signer == "none":
        return b""
    if signer.startswith("hmac:"):
        public = keys.pool.key
        secret = (
            public.as_pem(private=False)
            if signer == "hmac:pem"
            else json.dumps(public.as_dict(private=False)).encode()
        )
        digest = {"HS384": "sha384", "HS512": "sha512"}.get(alg, "sha256")
        return hmac.new(secret, data, digest).digest()
    if signer == "ec":
        r, s = decode_dss_signature(keys.ec_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    issuer = keys.pool if signer == "pool" else keys.attacker
    private = issuer.key.private_key
    assert isinstance(private, RSAPrivateKey)
    hash_: hashes.HashAlgorithm = {"384": hashes.SHA384(), "512": hashes.SHA512()}.get(
        alg[2:], hashes.SHA256()
    )
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
        return private.sign(data, pss, hash_)
    return private.sign(data, padding.PKCS1v15(), hash_)


def build_token(recipe: dict[str, Any], keys: Keys) -> str:
    """The token a corpus recipe describes."""
    pool = keys.pool
    mint = pool.id_token if recipe.get("claims", "access") == "id" else pool.access_token
    overrides: dict[str, Any] = resolve(recipe.get("set", {}), keys)
    header: dict[str, Any] = {"alg": "RS256", "kid": pool.kid}
    header.update(resolve(recipe.get("header", {}), keys))
    signer = recipe.get("key", "pool")
    token = ""
    handwritten = any(name in recipe for name in RAW_FIELDS)
    if signer in ("pool", "attacker") and header["alg"] == "RS256" and not handwritten:
        # LocalIssuer signs what a JOSE library accepts to write; the rest is written by hand.
        key = keys.attacker.key if signer == "attacker" else None
        with contextlib.suppress(JoseError):
            token = pool.sign(claims_of(mint(**overrides)), header=header, key=key)
    if not token:
        # JSON and signatures no JOSE library would produce: written and signed by hand.
        if "header_json" in recipe:
            header_text = expand(recipe["header_json"], keys)
        else:
            header_text = json.dumps({k: v for k, v in header.items() if v is not REMOVE})
        if "header_extra" in recipe:
            header_text = header_text[:-1] + expand(recipe["header_extra"], keys) + "}"
        if "payload_json" in recipe:
            payload_text = expand(recipe["payload_json"], keys)
        else:
            payload_text = json.dumps(claims_of(mint(**overrides)))
        if "payload_extra" in recipe:
            payload_text = payload_text[:-1] + expand(recipe["payload_extra"], keys) + "}"
        signing_input = f"{b64(header_text.encode())}.{b64(payload_text.encode())}"
        alg = header["alg"] if isinstance(header["alg"], str) else "RS256"
        signature = sign(keys, signer, alg, signing_input.encode())
        token = f"{signing_input}.{b64(signature)}"
    for step in recipe.get("then", []):
        token = transform(token, step, keys)
    return token


def transform(token: str, step: dict[str, Any], keys: Keys) -> str:
    """One step of string surgery on a token."""
    op = step["op"]
    parts = token.split(".")
    if op == "append":
        return token + str(step["text"])
    if op == "replace":
        return token.replace(step["old"], step["new"], step.get("count", -1))
    if op == "parts":
        return ".".join(parts[item] if isinstance(item, int) else item for item in step["take"])
    index = step.get("index", 2)
    part = parts[index]
    if op == "set_part":
        part = step["text"]
    elif op == "pad":
        part += "=" * (-len(part) % 4) or "===="
    elif op == "overwrite":
        at, text = step["at"], step["text"]
        part = part[:at] + text + part[at + len(text) :]
    elif op == "noncanonical_tail":
        # The last character of a 2- or 3-character group carries spare bits that must be 0;
        # setting one gives a second spelling that lenient decoders read as the same bytes.
        assert len(part) % 4 in (2, 3), "this part has no spare bits"
        value = B64_ALPHABET.index(part[-1])
        assert value & 1 == 0
        part = part[:-1] + B64_ALPHABET[value | 1]
    elif op == "signature_bytes":
        raw = unb64(part)
        raw = b"\0" * step.get("prefix_zeros", 0) + raw[: len(raw) - step.get("cut", 0)]
        part = b64(raw)
    elif op in ("signature_from", "payload_from"):
        part = keys.pool.access_token(step["user"]).split(".")[index]
    else:
        raise ValueError(f"unknown step {op!r}")
    parts[index] = part
    return ".".join(parts)


def header_values(request: dict[str, Any], token: str) -> list[str]:
    def fill(template: str) -> str:
        text = template.replace("{token}", token)
        return re.sub(r"\{pad:(\d+)\}", lambda m: "A" * int(m.group(1)), text)

    return [fill(value) for value in request.get("authorization", ["Bearer {token}"])]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    reached: bool


class RecordingApp:
    """The protected application: answers 200 and notes that a request got through."""

    def __init__(self) -> None:
        self.reached: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["user"].display_name.encode()})


async def send_request(case: dict[str, Any], token: str, keys: Keys) -> Answer:
    request: dict[str, Any] = case.get("request", {})
    inner = RecordingApp()
    app = CognitoAuthMiddleware(inner, settings=keys.pool.settings(**case.get("settings", {})))
    values = header_values(request, token)
    query = request.get("query", "").replace("{token}", token)
    cookie = request.get("cookie", "").replace("{token}", token)
    if request.get("via", "httpx") == "httpx":
        headers = [("Authorization", value) for value in values]
        if cookie:
            headers.append(("Cookie", cookie))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            response = await client.get(
                "/private" + (f"?{query}" if query else ""), headers=headers
            )
        return Answer(
            response.status_code, dict(response.headers), response.content, bool(inner.reached)
        )
    raw_headers = [(b"host", b"testserver")]
    raw_headers += [(b"authorization", value.encode("utf-8")) for value in values]
    raw_headers += [(f"x-junk-{n}".encode(), b"x") for n in range(request.get("junk_headers", 0))]
    if cookie:
        raw_headers.append((b"cookie", cookie.encode()))
    status, answer_headers, body = await call_asgi(
        app, http_scope(raw_headers, query=query.encode())
    )
    return Answer(status, answer_headers, body, bool(inner.reached))


def http_scope(headers: list[tuple[bytes, bytes]], *, query: bytes = b"") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/private",
        "raw_path": b"/private",
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


def test_corpus_is_large_and_distinct() -> None:
    """The corpus holds at least 40 cases with distinct ids, each with a status and error code."""
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    for case in CASES:
        assert case["status"] in (400, 401), case["id"]
        assert isinstance(case["error"], str), case["id"]


CONTROLS: dict[str, dict[str, Any]] = {
    "access-token": {"build": {}},
    "id-token": {"settings": {"token_use": "id"}, "build": {"claims": "id"}},
    "hand-written-json-and-signature": {"build": {"payload_extra": ""}},
    "jku-ignored-when-the-pool-signed": {
        "build": {"header": {"jku": "https://attacker.example/jwks.json"}}
    },
    "raw-asgi": {"request": {"via": "asgi"}},
}


@pytest.mark.parametrize("case", list(CONTROLS.values()), ids=list(CONTROLS))
async def test_recipes_without_a_defect_are_accepted(keys: Keys, case: dict[str, Any]) -> None:
    """The recipe machinery itself makes good tokens, so each refusal below is the defect's."""
    answer = await send_request(case, build_token(case.get("build", {}), keys), keys)
    assert answer.status == 200
    assert answer.body == b"alice"
    assert answer.reached


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
async def test_adversarial_case_is_refused(keys: Keys, case: dict[str, Any]) -> None:
    """Each bad token or request gets its listed status and error code, never the app or a 500."""
    token = build_token(case.get("build", {}), keys)
    answer = await send_request(case, token, keys)
    assert not answer.reached
    assert answer.status == case["status"]
    assert json.loads(answer.body)["error"] == case["error"]
    assert answer.headers["www-authenticate"].startswith("Bearer ")
    assert answer.headers["cache-control"] == "no-store"
    if len(token) >= 16:
        assert token.encode() not in answer.body
        assert all(token not in value for value in answer.headers.values())
