"""Helpers for testing applications protected by cognito-asgi, without AWS.

A `LocalIssuer` plays the signing side of a user pool: it holds an RSA key and mints tokens
shaped like Cognito's. Its settings carry the matching key set preloaded, so the middleware
works offline::

    issuer = LocalIssuer()
    app = CognitoAuthMiddleware(my_app, settings=issuer.settings())
    token = issuer.access_token("alice", groups=["admins"])
    expired = issuer.access_token("alice", exp=int(time.time()) - 60)

`JWKSServer` serves the key set over real HTTP on 127.0.0.1, for tests of the key fetching
itself. Needs the `testing` extra (joserfc).
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jws
from joserfc.jwk import RSAKey

from ._settings import CognitoSettings

__all__ = ["REMOVE", "JWKSServer", "LocalIssuer"]

#: Pass as a claim's value to leave that claim out of the token.
REMOVE: Any = object()


class LocalIssuer:
    """Mints Cognito-shaped access and id tokens from a local RSA key.

    Every claim can be overridden by keyword (`exp=...`, `client_id=...`, `token_use=...`), or
    left out with `REMOVE`. `header=` overrides or adds header parameters.
    """

    def __init__(
        self,
        *,
        user_pool_id: str = "us-east-1_LocalPool1",
        client_id: str = "localclient1",
        kid: str | None = None,
        key_size: int = 2048,
    ) -> None:
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.region = user_pool_id.partition("_")[0]
        self.issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{user_pool_id}"
        self.keys: list[RSAKey] = []
        self.add_key(kid=kid, key_size=key_size)

    @property
    def key(self) -> RSAKey:
        """The key new tokens are signed with (the last one added)."""
        return self.keys[-1]

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def add_key(self, *, kid: str | None = None, key_size: int = 2048) -> RSAKey:
        """Add a signing key (for rotation tests); later tokens are signed with it."""
        key = RSAKey.generate_key(
            key_size, parameters={"kid": kid or secrets.token_hex(8), "use": "sig", "alg": "RS256"}
        )
        self.keys.append(key)
        return key

    def remove_key(self, kid: str) -> None:
        self.keys = [k for k in self.keys if k.kid != kid]

    def jwks(self) -> dict[str, Any]:
        """The public key set, as a pool's `/.well-known/jwks.json` would serve it."""
        return {"keys": [k.as_dict(private=False) for k in self.keys]}

    def jwks_json(self) -> str:
        import json

        return json.dumps(self.jwks())

    def settings(self, **overrides: Any) -> CognitoSettings:
        """Settings for this pool with the key set preloaded (no network needed)."""
        values: dict[str, Any] = {
            "user_pool_id": self.user_pool_id,
            "client_ids": (self.client_id,),
            "jwks_json": self.jwks_json(),
        }
        values.update(overrides)
        return CognitoSettings(**values)

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        header: Mapping[str, Any] | None = None,
        key: RSAKey | None = None,
    ) -> str:
        """Sign arbitrary claims as an RS256 compact JWS."""
        import json

        signing_key = key or self.key
        protected: dict[str, Any] = {"kid": signing_key.kid, "alg": "RS256"}
        protected.update(header or {})
        protected = {k: v for k, v in protected.items() if v is not REMOVE}
        # Compact, as Cognito writes its tokens.
        payload = json.dumps(
            {k: v for k, v in claims.items() if v is not REMOVE}, separators=(",", ":")
        )
        algorithms = [str(protected.get("alg", "RS256"))]
        return jws.serialize_compact(protected, payload, signing_key, algorithms=algorithms)

    def access_token(
        self,
        username: str = "alice",
        *,
        groups: Iterable[str] = (),
        scopes: Iterable[str] = ("aws.cognito.signin.user.admin",),
        expires_in: int = 3600,
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An access token for `username`, as Cognito issues after sign-in."""
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.user_pool_id}/{username}")),
            "iss": self.issuer,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "exp": now + expires_in,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        groups = list(groups)
        if groups:
            body["cognito:groups"] = groups
        body.update(claims)
        return self.sign(body, header=header)

    def id_token(
        self,
        username: str = "alice",
        *,
        email: str | None = None,
        groups: Iterable[str] = (),
        expires_in: int = 3600,
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An id token for `username`, with `email` (default `<username>@example.com`)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.user_pool_id}/{username}")),
            "email_verified": True,
            "iss": self.issuer,
            "cognito:username": username,
            "origin_jti": str(uuid.uuid4()),
            "aud": self.client_id,
            "event_id": str(uuid.uuid4()),
            "token_use": "id",
            "auth_time": now,
            "exp": now + expires_in,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "email": email or f"{username}@example.com",
        }
        groups = list(groups)
        if groups:
            body["cognito:groups"] = groups
        body.update(claims)
        return self.sign(body, header=header)


class JWKSServer:
    """A real HTTP server on 127.0.0.1 serving a key set, with faults on demand.

    Set `body`, `status`, `content_type` or `delay` at any time; `requests` counts the GETs.
    `port` picks the port (default: a free one), so a stopped server can come back at its URL.

        with JWKSServer.running(issuer) as server:
            settings = issuer.settings(jwks_json=None, jwks_url=server.url)
    """

    def __init__(self, issuer: LocalIssuer | None = None, *, port: int = 0) -> None:
        self.issuer = issuer
        self.body: bytes | None = None
        self.status = 200
        self.content_type = "application/json"
        self.delay = 0.0
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                if server.delay:
                    time.sleep(server.delay)
                body = server.current_body()
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", server.content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def current_body(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.issuer is not None:
            return self.issuer.jwks_json().encode()
        return b'{"keys": []}'

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        pool = self.issuer.user_pool_id if self.issuer else "pool"
        return f"http://{host!s}:{port}/{pool}/.well-known/jwks.json"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @classmethod
    @contextmanager
    def running(cls, issuer: LocalIssuer | None = None, *, port: int = 0) -> Iterator[JWKSServer]:
        server = cls(issuer, port=port)
        server.start()
        try:
            yield server
        finally:
            server.stop()
