"""The accounts subpackage exports exactly its public API, and works as an ASGI app by itself."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import MutableMapping
from typing import Any

import cognito_asgi.accounts
from cognito_asgi import CognitoError, CognitoSettings
from cognito_asgi.accounts import AccountsApp, AccountsError

# Helpers shared between the subpackage's modules, not meant for users.
INTERNAL = {
    "BadRequest",
    "CallFailed",
    "CognitoAdmin",
    "Provisioner",
    "RateLimiter",
    "SignUp",
    "SignUpInput",
    "build_client",
    "parse_sign_up",
    "read_body",
    "redacting",
    "register",
    "secret_hash",
}


def test_every_public_name_is_exported() -> None:
    """Every class or function in a private module's __all__ is exported by the subpackage,
    unless it is an internal helper."""
    exported = set(cognito_asgi.accounts.__all__)
    for info in pkgutil.iter_modules(cognito_asgi.accounts.__path__):
        module = importlib.import_module(f"cognito_asgi.accounts.{info.name}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert name in exported or name in INTERNAL, f"{info.name}.{name} not exported"


def test_all_is_sorted_and_resolves() -> None:
    """__all__ is sorted, every name in it exists, and the required names are there."""
    names = cognito_asgi.accounts.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(cognito_asgi.accounts, name), name
    assert {"AccountsApp", "UserStore", "SQLUserStore", "UserRecord", "record_loader"} <= set(names)


def test_errors_share_the_package_base_class() -> None:
    """Every accounts error is a CognitoError, so one except clause catches them all."""
    for name in cognito_asgi.accounts.__all__:
        obj = getattr(cognito_asgi.accounts, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, AccountsError)
            assert issubclass(obj, CognitoError)


async def test_the_app_answers_lifespan_and_closes_at_shutdown(tmp_path: Any) -> None:
    """Served as the top-level app it completes the lifespan handshake, needs nothing at
    start-up, and closes at shutdown; a WebSocket is closed."""
    settings = CognitoSettings(
        user_pool_id="us-east-1_Life",
        client_ids=("life",),
        accounts_database_url=f"sqlite+aiosqlite:///{tmp_path / 'life.db'}",
    )
    app = AccountsApp(settings)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert not (tmp_path / "life.db").exists()
    sent.clear()
    await app({"type": "websocket", "path": "/me", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1003}]
