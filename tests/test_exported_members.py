"""The public API is exactly what `cognito_asgi.__all__` names."""

from __future__ import annotations

import importlib
import pkgutil

import cognito_asgi

# Shared between the package's own modules, not meant for users.
INTERNAL = {
    "b64url_decode",
    "b64url_decode_fast",
    "strict_json",
    "strict_json_object",
    "read_env",
    "refusal_parts",
    "VerificationBatches",
}
COMMAND_MODULES = {"_cli", "_demo", "_pool"}


def test_every_public_name_is_exported() -> None:
    """Every name in a private module's __all__ is re-exported by the package, or is internal."""
    exported = set(cognito_asgi.__all__)
    for module_info in pkgutil.iter_modules(cognito_asgi.__path__):
        name = module_info.name
        if not name.startswith("_") or name in COMMAND_MODULES:
            continue
        module = importlib.import_module(f"cognito_asgi.{name}")
        for member in getattr(module, "__all__", ()):
            assert hasattr(module, member), f"{name}.__all__ names missing {member}"
            assert member in exported or member in INTERNAL, (
                f"cognito_asgi.{name}.{member} is not exported"
            )


def test_all_is_sorted_and_resolves() -> None:
    """__all__ is sorted and every name in it exists."""
    assert cognito_asgi.__all__ == sorted(cognito_asgi.__all__)
    for name in cognito_asgi.__all__:
        assert hasattr(cognito_asgi, name), name
