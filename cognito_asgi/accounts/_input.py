"""Reading and checking a sign-up request: name, email, password, nothing else."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.types import Receive

from cognito_asgi._encoding import strict_json

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "BadRequest",
    "SignUpInput",
    "parse_sign_up",
    "read_body",
]

MAX_BODY_BYTES = 16 * 1024
MAX_NAME_LENGTH = 256
# Cognito's own limit for passwords (PasswordType: max 256).
MAX_PASSWORD_LENGTH = 256
# RFC 5321 §4.5.3.1: 64 octets of local part, 254 for a whole address in a path.
MAX_EMAIL_LENGTH = 254
_FIELDS = ("name", "email", "password")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


@dataclass
class BadRequest(Exception):
    """The request cannot be used: `status` 400, 413, 415 or 422 and a JSON body."""

    status: int
    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "error_description": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


@dataclass(frozen=True, slots=True)
class SignUpInput:
    name: str
    email: str
    password: str = field(repr=False)


async def read_body(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = headers.get(b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "invalid_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(400, "invalid_request", "the client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> BadRequest:
    return BadRequest(413, "body_too_large", f"the request body is larger than {limit} bytes")


def parse_sign_up(content_type: bytes | None, body: bytes) -> SignUpInput:
    """Decode a JSON or form-encoded body and check every field; raise BadRequest."""
    media_type, charset = _media_type(content_type)
    if media_type == "application/json":
        if charset not in (None, "utf-8"):
            raise BadRequest(415, "unsupported_media_type", "JSON must be encoded in UTF-8")
        try:
            data = strict_json(body)
        except ValueError:
            raise BadRequest(400, "invalid_json", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest(400, "invalid_json", "the body must be a JSON object")
    elif media_type == "application/x-www-form-urlencoded":
        if charset not in (None, "utf-8"):
            raise BadRequest(415, "unsupported_media_type", "forms must be encoded in UTF-8")
        data = _form(body)
    else:
        raise BadRequest(
            415,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
        )
    return _check(data)


def _media_type(content_type: bytes | None) -> tuple[str, str | None]:
    if content_type is None:
        return "", None
    text = content_type.decode("latin-1")
    media_type, *params = text.split(";")
    charset = None
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _form(body: bytes) -> dict[str, object]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "invalid_form", "the body is not a UTF-8 form") from None
    data: dict[str, object] = {}
    repeated: dict[str, str] = {}
    for key, value in pairs:
        if key in data:
            repeated[key] = "given more than once"
        data[key] = value
    if repeated:
        raise BadRequest(422, "invalid_input", "some fields are invalid", repeated)
    return data


def _check(data: dict[str, object]) -> SignUpInput:
    errors: dict[str, str] = {}
    for key in data:
        if key not in _FIELDS:
            errors[_printable(key)] = "unknown field"
    values: dict[str, str] = {}
    for key in _FIELDS:
        value = data.get(key)
        if value is None:
            errors[key] = "required"
        elif not isinstance(value, str):
            errors[key] = "must be a string"
        else:
            values[key] = value
    if "name" in values:
        name = values["name"] = values["name"].strip()
        if not name:
            errors["name"] = "must not be empty"
        elif len(name) > MAX_NAME_LENGTH:
            errors["name"] = f"must be at most {MAX_NAME_LENGTH} characters"
        elif _has_control(name):
            errors["name"] = "must not contain control characters"
    if "email" in values:
        email = values["email"] = values["email"].strip()
        problem = _email_problem(email)
        if problem:
            errors["email"] = problem
    if "password" in values:
        problem = _password_problem(values["password"])
        if problem:
            errors["password"] = problem
    if errors:
        raise BadRequest(422, "invalid_input", "some fields are invalid", errors)
    return SignUpInput(values["name"], values["email"], values["password"])


def _email_problem(email: str) -> str | None:
    if not email:
        return "must not be empty"
    if len(email) > MAX_EMAIL_LENGTH:
        return f"must be at most {MAX_EMAIL_LENGTH} characters"
    local, at, domain = email.rpartition("@")
    if not at or len(local) > 64 or not _LOCAL.fullmatch(local):
        return "is not a valid email address"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return "is not a valid email address"
    if not _TLD.fullmatch(labels[-1]):
        return "is not a valid email address"
    return None


def _password_problem(password: str) -> str | None:
    if not password:
        return "must not be empty"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if password != password.strip():
        # Cognito refuses passwords that begin or end with white space.
        return "must not begin or end with white space"
    if _has_control(password):
        return "must not contain control characters"
    return None


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in text)


def _printable(key: str) -> str:
    # Unknown field names are echoed back; keep them short and harmless.
    cleaned = "".join(c if c.isprintable() else "?" for c in key[:64])
    return cleaned or "?"
