from __future__ import annotations

import binascii
import json
from base64 import urlsafe_b64decode
from collections.abc import Callable
from typing import Any

__all__ = ["b64url_decode", "b64url_decode_fast", "strict_json", "strict_json_object"]

# RFC 7515 §2 base64url without padding. A final character may carry only the bits the decoded
# length needs: after 2 characters (one byte) its low 4 bits are zero, after 3 (two bytes) its
# low 2 bits are. Anything else is a second spelling of the same bytes, which we refuse so that
# one token has exactly one accepted spelling.
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_LAST_OF_2 = frozenset("AQgw")
_LAST_OF_3 = frozenset("AEIMQUYcgkosw048")
_PADDING = ("", "", "==", "=")  # by length % 4; 1 is refused before use


def b64url_decode(text: str, *, alphabet_checked: bool = False) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError for any other spelling.

    `alphabet_checked` skips the character check for callers that matched it already.
    """
    remainder = len(text) % 4
    if remainder == 1 or not text:
        raise ValueError("not base64url")
    if remainder == 2:
        if text[-1] not in _LAST_OF_2:
            raise ValueError("not canonical base64url")
    elif remainder == 3 and text[-1] not in _LAST_OF_3:
        raise ValueError("not canonical base64url")
    if not alphabet_checked and not _ALPHABET.issuperset(text):
        raise ValueError("not base64url")
    try:
        return urlsafe_b64decode(text + _PADDING[remainder])
    except binascii.Error:
        raise ValueError("not base64url") from None


def b64url_decode_fast(part: str) -> bytes:
    """b64url_decode for the hot path: the same checks, each a C-level scan."""
    remainder = len(part) % 4
    if remainder == 1 or not part:
        raise ValueError("not base64url")
    if remainder == 2:
        if part[-1] not in "AQgw":
            raise ValueError("not canonical base64url")
    elif remainder == 3 and part[-1] not in "AEIMQUYcgkosw048":
        raise ValueError("not canonical base64url")
    # '+', '/' and '=' belong to standard base64, not to base64url: refuse them before '-' and
    # '_' become '+' and '/'. Strict decoding then refuses every other character (whitespace,
    # '.', non-ASCII), so the accepted alphabet is exactly _ALPHABET. Two str.replace calls
    # cost less than encoding and translating, and nothing when a part has no '-' or '_'.
    if "+" in part or "/" in part or "=" in part:
        raise ValueError("not base64url")
    standard = part.replace("-", "+").replace("_", "/") + _PADDING[remainder]
    try:
        return binascii.a2b_base64(standard, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII character in `standard`
        raise ValueError("not base64url") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def strict_json_object(data: bytes) -> dict[str, Any]:
    """Like strict_json, for a JSON object; compact input skips the whitespace handling."""
    try:
        text = data.decode("utf-8")
        value, end = _scan_once(text, 0)
    except (ValueError, RecursionError, StopIteration):
        value, end = strict_json(data), -1
    if end != -1 and end != len(text):
        value = strict_json(data)
    if type(value) is not dict:
        raise ValueError("not a JSON object")
    return value


def strict_json(data: bytes | str) -> Any:
    """Parse RFC 8259 JSON, refusing duplicate names, NaN/Infinity and runaway nesting."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _decoder.decode(text)
    except (ValueError, RecursionError, UnicodeDecodeError):
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; say nothing of the content.
        raise ValueError("not strict JSON") from None


_scan_once: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]
