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
_PADDING = ("", None, "==", "=")


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
        return urlsafe_b64decode(text + _PADDING[remainder])  # type: ignore[operator]
    except binascii.Error:
        raise ValueError("not base64url") from None


# For the hot path: base64url mapped onto the standard alphabet in one C-level pass, with the
# standard alphabet's own '+', '/' and '=' mapped to a byte that strict decoding refuses.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PAD = (b"", b"", b"==", b"=")


def b64url_decode_fast(part: str) -> bytes:
    """b64url_decode for the hot path: one C-level translation, then strict decoding."""
    remainder = len(part) % 4
    if remainder == 1 or not part:
        raise ValueError("not base64url")
    if remainder == 2:
        if part[-1] not in "AQgw":
            raise ValueError("not canonical base64url")
    elif remainder == 3 and part[-1] not in "AEIMQUYcgkosw048":
        raise ValueError("not canonical base64url")
    try:
        # UnicodeEncodeError is a ValueError too.
        standard = part.encode("ascii").translate(_TO_STANDARD) + _PAD[remainder]
        return binascii.a2b_base64(standard, strict_mode=True)
    except binascii.Error:
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
