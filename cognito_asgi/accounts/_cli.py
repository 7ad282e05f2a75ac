"""`cognito-asgi accounts reconcile`: resolve sign-ups left pending by a process that died."""

from __future__ import annotations

import argparse
import math
import sys

import anyio

from cognito_asgi._settings import CognitoSettings

from ._errors import AccountsError
from ._reconcile import DEFAULT_OLDER_THAN, ReconcileReport, reconcile
from ._sql import SQLUserStore

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accounts = subparsers.add_parser(
        "accounts",
        help="maintain the user records of AccountsApp",
        description="Maintain the user records that AccountsApp keeps next to the Cognito users.",
    )
    actions = accounts.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    parser = actions.add_parser(
        "reconcile",
        help="finish or undo sign-ups left pending by a process that died",
        description="For each record pending for longer than --older-than seconds, ask Cognito: "
        "a CONFIRMED user makes the record active; a user in any other state is deleted with "
        "its record; a missing user leaves the record to be deleted. Reads the COGNITO_* "
        "variables (the pool, COGNITO_ACCOUNTS_DATABASE_URL). Exits 1 if a record could not "
        "be resolved. Safe to run again, and from cron.",
    )
    parser.add_argument(
        "--older-than",
        type=_seconds,
        default=DEFAULT_OLDER_THAN,
        metavar="SECONDS",
        help=f"only records pending for longer than this (default {DEFAULT_OLDER_THAN:g})",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="the user store (default COGNITO_ACCOUNTS_DATABASE_URL)",
    )
    parser.set_defaults(handler=_reconcile)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds ≥ 0")
    return value


def _reconcile(args: argparse.Namespace) -> int:
    settings = CognitoSettings.from_env()
    store = SQLUserStore(args.database_url or settings.accounts_database_url)

    async def run() -> ReconcileReport:
        try:
            return await reconcile(store, settings, older_than=args.older_than)
        finally:
            await store.aclose()

    try:
        report = anyio.run(run)
    except AccountsError as exc:
        print(f"reconcile failed: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    for label, ids in (
        ("activated", report.activated),
        ("undone", report.undone),
        ("removed", report.removed),
        ("failed", report.failed),
    ):
        for user_id in ids:
            print(f"{label} {user_id}")
    print(report.summary())
    return 1 if report.failed else 0
