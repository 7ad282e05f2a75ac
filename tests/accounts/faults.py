"""Faults at the boto3 boundary, for failures the emulator cannot produce on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders


def error_response(code: str, message: str = "", status: int = 400) -> tuple[Any, dict[str, Any]]:
    """What botocore would have parsed from a Cognito error answer."""
    http = AWSResponse("http://127.0.0.1/", status, HTTPHeaders(), None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return http, parsed


def answer(parsed: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A successful answer with this body."""
    return AWSResponse("http://127.0.0.1/", 200, HTTPHeaders(), None), {
        **parsed,
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }


def fail_before(
    client: Any,
    operation: str,
    *,
    error: tuple[str, str] | None = None,
    raise_: BaseException | None = None,
    respond: dict[str, Any] | None = None,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Make `operation` (API name) fail instead of reaching Cognito: answer with the Cognito
    error `(code, message)`, raise `raise_`, or answer `respond`. Returns the list of request
    parameters seen, for assertions. `when(params)` limits the fault to some calls."""
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    def hook(**_: Any) -> Any:
        if when is not None and not when(seen[-1]):
            return None
        if raise_ is not None:
            raise raise_
        if respond is not None:
            return answer(respond)
        assert error is not None
        return error_response(*error)

    client.meta.events.register(f"before-parameter-build.cognito-idp.{operation}", capture)
    client.meta.events.register(f"before-call.cognito-idp.{operation}", hook)
    return seen


def fail_after(client: Any, operation: str, exception: BaseException) -> None:
    """Let `operation` reach Cognito and take effect, then lose its answer."""

    def hook(**_: Any) -> None:
        raise exception

    client.meta.events.register(f"after-call.cognito-idp.{operation}", hook)
