"""Keeping passwords and tokens out of botocore's and urllib3's debug logs.

At DEBUG level botocore logs every request's parameters ("Making request for ... with params")
and every response body ("Response body: ..."). For AdminCreateUser, AdminInitiateAuth,
AdminRespondToAuthChallenge and AdminSetUserPassword these hold the password, and for the auth
calls the tokens. The accounts code makes each Cognito call inside `redacting()`, which marks the
calling worker thread; a filter installed on those libraries' loggers replaces the arguments of
every record that thread emits during the call. Other threads (the application's own boto3 use)
are left alone.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["redacting"]

_PREFIXES = ("botocore", "boto3", "urllib3", "s3transfer")
# Created up front so that the filter is on them before their first record.
_KNOWN = (
    "botocore",
    "botocore.auth",
    "botocore.client",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.regions",
    "botocore.retries.standard",
    "botocore.retryhandler",
    "urllib3.connectionpool",
)
_SAFE_WORD = re.compile(r"[\w.\-:/]{1,80}", re.ASCII)
REDACTED = "<redacted>"


class _CallState(threading.local):
    secrets: tuple[str, ...] | None = None


_state = _CallState()


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _state.secrets
        if secrets is None:
            return True
        if not isinstance(record.msg, str) or any(s in record.msg for s in secrets):
            record.msg = f"{record.name}: {REDACTED}"
            record.args = None
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg, secrets) for arg in record.args)
        elif record.args is not None:
            # A single mapping argument (`logger.debug("%(x)s", {...})`).
            record.msg = f"{record.name}: {REDACTED}"
            record.args = None
        return True


def _redact_arg(arg: object, secrets: tuple[str, ...]) -> object:
    if arg is None or type(arg) in (int, float, bool):
        return arg
    if type(arg).__name__ == "OperationModel":
        return f"OperationModel(name={getattr(arg, 'name', '?')})"
    if isinstance(arg, str) and _SAFE_WORD.fullmatch(arg) and not any(s in arg for s in secrets):
        # Event names, hosts, methods: short single words are kept for debugging.
        return arg
    return REDACTED


_FILTER = _RedactingFilter()
_install_lock = threading.Lock()
_seen = 0


def _install() -> None:
    global _seen
    names = logging.root.manager.loggerDict
    if len(names) == _seen:
        return
    with _install_lock:
        for name in _KNOWN:
            logging.getLogger(name)
        for name in list(names):
            if name.startswith(_PREFIXES):
                logger = logging.getLogger(name)
                if _FILTER not in logger.filters:
                    logger.addFilter(_FILTER)
        _seen = len(names)


@contextmanager
def redacting(*secrets: str) -> Iterator[None]:
    """Redact the records botocore and urllib3 log from this thread inside the block.

    `secrets` (the password) are also looked for in message templates, and any record whose
    template contains one is replaced whole.
    """
    _install()
    previous = _state.secrets
    _state.secrets = tuple(s for s in secrets if s)
    try:
        yield
    finally:
        _state.secrets = previous
