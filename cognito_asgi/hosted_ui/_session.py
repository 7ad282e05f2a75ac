"""Cookie plumbing of the Hosted UI session: sealing, Set-Cookie values, header rewriting.

The session is two cookies. The access-token cookie holds the plain access token (a signed JWT
that the middleware verifies on every request, so it needs no sealing of its own). The refresh
cookie holds the refresh token sealed with Fernet (AES-CBC + HMAC-SHA256) under a key derived
from the session secret, so the browser can neither read nor alter it. The short-lived flow
cookie of a sign-in in progress (state, PKCE verifier, nonce, return path) is sealed the same
way under another derived key, so one cookie's content is never accepted as the other's.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cognito_asgi._encoding import b64url_decode_fast, strict_json_object
from cognito_asgi._verifier import MAX_TOKEN_LENGTH

__all__ = [
    "Sealer",
    "SingleFlight",
    "cookie_header_without",
    "delete_cookie",
    "set_cookie",
    "unverified_exp",
]

#: Longest sealed cookie read back; browsers keep at most about 4 KB per cookie.
MAX_SEALED_LENGTH = 8 * 1024


class Sealer:
    """Encrypts and authenticates small JSON objects for cookies, under one purpose's key."""

    def __init__(self, secret: str, purpose: str) -> None:
        key = HKDF(
            algorithm=SHA256(),
            length=32,
            salt=None,
            info=f"cognito-asgi hosted-ui {purpose} v1".encode(),
        ).derive(secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, data: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()

    def open(self, value: str | None) -> dict[str, Any] | None:
        """The sealed object, or None when the value is missing, altered or not ours."""
        if not value or len(value) > MAX_SEALED_LENGTH:
            return None
        try:
            return strict_json_object(self._fernet.decrypt(value.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            return None


def set_cookie(name: str, value: str, *, max_age: float, path: str, secure: bool) -> bytes:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, Secure unless on loopback (RFC 6265bis)."""
    seconds = max(0, math.floor(max_age))
    header = f"{name}={value}; Max-Age={seconds}; Path={path}; HttpOnly; SameSite=Lax"
    if secure:
        header += "; Secure"
    return header.encode("latin-1")


def delete_cookie(name: str, *, path: str, secure: bool) -> bytes:
    header = (
        f'{name}=""; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path={path}; HttpOnly; '
        "SameSite=Lax"
    )
    if secure:
        header += "; Secure"
    return header.encode("latin-1")


def cookie_header_without(headers: Iterable[tuple[bytes, bytes]], names: set[str]) -> bytes:
    """The request's Cookie headers joined into one, without the pairs named in `names`.

    Other pairs are kept byte for byte, so the application sees its own cookies unchanged.
    """
    kept: list[bytes] = []
    for key, value in headers:
        if key != b"cookie":
            continue
        for pair in value.split(b";"):
            item = pair.strip()
            if not item:
                continue
            name = item.partition(b"=")[0].strip().decode("latin-1")
            if name not in names:
                kept.append(item)
    return b"; ".join(kept)


def unverified_exp(token: str | None) -> float | None:
    """The `exp` of a JWT read without verifying it, or None when it cannot be read.

    Only used to decide whether to renew early; the token itself is always verified later.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = strict_json_object(b64url_decode_fast(parts[1]))
    except ValueError:
        return None
    exp = payload.get("exp")
    if type(exp) is int or (type(exp) is float and math.isfinite(exp)):
        return float(exp)
    return None


class SingleFlight:
    """Concurrent calls with the same key share one execution of `work`.

    `work` reports failures in its result rather than raising; if the task running it is
    cancelled, the waiting ones run it themselves.
    """

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[Any]]) -> Any:
        while True:
            call = self._calls.get(key)
            if call is None:
                break
            await call.done.wait()
            if call.finished:
                return call.result
        call = _Call()
        self._calls[key] = call
        try:
            call.result = await work()
            call.finished = True
            return call.result
        finally:
            del self._calls[key]
            call.done.set()


class _Call:
    __slots__ = ("done", "finished", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.finished = False
        self.result: Any = None
