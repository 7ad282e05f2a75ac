"""The `cognito-asgi` command.

Each subcommand lives in its own module with a `register(subparsers)` function that adds its
parser and sets `handler` (a function of the parsed arguments returning the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

import anyio

from ._errors import CognitoError, ConfigurationError
from ._settings import CognitoSettings
from ._verifier import TokenVerifier

__all__ = ["main"]

# Subcommands provided by other modules, imported when the command runs.
_COMMAND_MODULES: tuple[str, ...] = (
    "cognito_asgi._pool",
    "cognito_asgi._demo",
    "cognito_asgi.accounts._cli",
)


def _register_verify(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify a token against the pool in COGNITO_* and print its claims",
        description="Verify TOKEN with the settings from the COGNITO_* environment variables. "
        "Prints the claims as JSON and exits 0, or prints the reason of refusal and exits 1.",
    )
    parser.add_argument("token", help="the JWT, or - to read it from standard input")
    parser.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    token = sys.stdin.read().strip() if args.token == "-" else args.token.strip()
    settings = CognitoSettings.from_env()
    verifier = TokenVerifier(settings)

    async def run() -> dict[str, object]:
        return dict(await verifier.verify(token))

    try:
        claims = anyio.run(run)
    except CognitoError as exc:
        detail = ""
        for attr in ("claim", "kid", "header"):
            if hasattr(exc, attr):
                detail = f" ({attr}={getattr(exc, attr)!r})"
        print(f"refused: {exc.code}: {exc.message}{detail}", file=sys.stderr)
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cognito-asgi", description="AWS Cognito authentication for ASGI applications."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _register_verify(subparsers)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
