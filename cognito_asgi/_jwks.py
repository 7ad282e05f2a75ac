from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from ._encoding import b64url_decode, strict_json
from ._errors import KeySetUnavailableError, UnknownKeyError

__all__ = ["JWKSCache", "parse_jwks"]

logger = logging.getLogger("cognito_asgi.jwks")

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
MAX_KID_LENGTH = 256
MAX_KEYS = 100
DEFAULT_MAX_BYTES = 256 * 1024


def parse_jwks(body: bytes) -> dict[str, RSAPublicKey]:
    """Parse a JWK Set (RFC 7517 §5) and keep its RSA signing keys by `kid`.

    Keys for other algorithms or uses are skipped; a malformed RSA key, a repeated `kid` or a set
    with no usable key at all is a ValueError: a pool's key set that looks like that is not one
    to half-trust.
    """
    document = strict_json(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the key set is not a JSON object with a 'keys' list")
    entries: list[Any] = document["keys"]
    if len(entries) > MAX_KEYS:
        raise ValueError(f"the key set has more than {MAX_KEYS} keys")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("a key in the set is not a JSON object")
        if entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        ops = entry.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise ValueError("an RSA key in the set has no usable 'kid'")
        if kid in keys:
            raise ValueError(f"the key set has two keys with kid {kid!r}")
        keys[kid] = _rsa_key(kid, entry)
    if not keys:
        raise ValueError("the key set holds no RSA signing key")
    return keys


def _rsa_key(kid: str, entry: Mapping[str, Any]) -> RSAPublicKey:
    n_text, e_text = entry.get("n"), entry.get("e")
    if not isinstance(n_text, str) or not isinstance(e_text, str):
        raise ValueError(f"key {kid!r} lacks 'n' or 'e'")
    n_bytes, e_bytes = b64url_decode(n_text), b64url_decode(e_text)
    # RFC 7518 §6.3.1: unsigned big-endian, no leading zero octets.
    if n_bytes[0] == 0 or e_bytes[0] == 0 or len(e_bytes) > 8:
        raise ValueError(f"key {kid!r} has a malformed 'n' or 'e'")
    n, e = int.from_bytes(n_bytes, "big"), int.from_bytes(e_bytes, "big")
    if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS:
        raise ValueError(f"key {kid!r} is {n.bit_length()} bits; {MIN_RSA_BITS} or more needed")
    if e < 3 or e % 2 == 0:
        raise ValueError(f"key {kid!r} has an invalid public exponent")
    return RSAPublicNumbers(e, n).public_key()


class JWKSCache:
    """The pool's public keys, fetched once and served from memory.

    The policy follows aws-jwt-verify's key cache, with a few additions:

    * A token whose `kid` is unknown causes at most one refetch per `cooldown` seconds. Anyone
      can send tokens with random `kid`s; without the cooldown each would cost a request to the
      key endpoint, turning our API into an amplifier against it and stalling every request.
    * Concurrent misses wait on one lock and share the fetch the first of them makes.
    * Keys older than `max_age` are refreshed on the next use. If that refresh fails, the keys we
      hold stay in use for up to `max_stale` seconds more (retrying with exponential backoff),
      so a short outage of the endpoint does not lock every user out; past that we fail closed.
    * A preloaded key set (`preloaded`) makes the cache work offline; it is never refetched
      unless a `url` is given too.

    Usage::

        cache = JWKSCache("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/jwks.json")
        key = await cache.get_key(kid)
    """

    def __init__(
        self,
        url: str | None,
        *,
        preloaded: bytes | str | None = None,
        http_client: httpx.AsyncClient | None = None,
        cooldown: float = 10.0,
        max_age: float = 3600.0,
        max_stale: float = 86400.0,
        timeout: float = 5.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if url is None and preloaded is None:
            raise ValueError("a key set URL or a preloaded key set is needed")
        self.url = url
        self._http_client = http_client
        self._cooldown = cooldown
        self._max_age = max_age
        self._max_stale = max_stale
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 3.0))
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = anyio.Lock()
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at = -math.inf  # when the keys we hold were fetched
        self._fresh_until = -math.inf
        self._attempted_at = -math.inf  # when the last fetch started, successful or not
        self._attempts = 0  # fetches started so far; lets waiters see one happened
        self._failures = 0  # consecutive failed fetches, for the backoff
        self._last_error = "the key set has not been fetched yet"
        #: Bumped whenever the set of keys changes; caches of verified tokens watch it.
        self.generation = 0
        #: Counters for observability: successful and failed fetches.
        self.fetches = 0
        self.fetch_failures = 0
        if preloaded is not None:
            data = preloaded.encode() if isinstance(preloaded, str) else preloaded
            self._install(parse_jwks(data), permanent=url is None)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def _install(self, keys: dict[str, RSAPublicKey], *, permanent: bool = False) -> None:
        if keys.keys() != self._keys.keys() or any(
            keys[k].public_numbers() != self._keys[k].public_numbers() for k in keys
        ):
            self.generation += 1
        self._keys = keys
        self._fetched_at = math.inf if permanent else self._clock()
        self._fresh_until = self._fetched_at + self._max_age
        self._failures = 0

    def _fresh(self, now: float) -> bool:
        return now - self._fetched_at < self._max_age

    def _usable(self, now: float) -> bool:
        return now - self._fetched_at < self._max_age + self._max_stale

    def _backoff(self) -> float:
        if not self._failures:
            return self._cooldown
        # Exponential, but never so long that a recovered endpoint stays unused for ages.
        ceiling = max(self._cooldown, min(self._max_age, 300.0))
        delay: float = self._cooldown * 2 ** min(self._failures - 1, 30)
        return min(delay, ceiling)

    def get_cached(self, kid: str) -> RSAPublicKey | None:
        """The key for `kid` when it is held and fresh; no I/O, for the hot path."""
        if self._clock() < self._fresh_until:
            return self._keys.get(kid)
        return None

    async def get_key(self, kid: str) -> RSAPublicKey:
        """The key for `kid`, fetching the set when it is due or when `kid` is new.

        Raises UnknownKeyError when the pool has no such key, and KeySetUnavailableError when
        no usable key set can be had.
        """
        now = self._clock()
        if not self._fresh(now) and self.url is not None:
            await self._refresh(reason="max-age", force_after=self._backoff())
        elif kid not in self._keys and self.url is not None:
            await self._refresh(reason="unknown kid", force_after=self._backoff())
        now = self._clock()
        if not self._usable(now):
            if self._keys:
                # Past max_stale the keys are dropped, and with them (through `generation`)
                # the tokens verifiers cached under them: failing closed covers those too.
                self._keys = {}
                self.generation += 1
            raise KeySetUnavailableError(
                f"the pool's key set is unavailable: {self._last_error}",
                retry_after=max(1, math.ceil(self._backoff())),
            )
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKeyError(kid)
        return key

    async def refresh(self) -> bool:
        """Fetch the key set now (for start-up); True when the keys are usable afterwards."""
        if self.url is not None:
            await self._refresh(reason="start-up", force_after=0.0)
        return self._usable(self._clock())

    async def _refresh(self, *, reason: str, force_after: float) -> None:
        seen = self._attempts
        async with self._lock:
            if self._attempts != seen:
                return  # another task fetched while we waited: share its outcome
            if self._clock() - self._attempted_at < force_after:
                return  # within the cooldown or backoff: use what we hold
            self._attempts += 1
            self._attempted_at = self._clock()
            try:
                keys = await self._fetch()
            except Exception as exc:  # any fault of the fetch fails closed, never a 500
                self._failures += 1
                self.fetch_failures += 1
                self._last_error = _describe(exc)
                logger.warning(
                    "key set fetch failed (%s): %s; next try in %.0f s",
                    reason,
                    self._last_error,
                    self._backoff(),
                )
                return
            self.fetches += 1
            self._install(keys)
            logger.info("key set fetched (%s): %d key(s)", reason, len(keys))

    async def _fetch(self) -> dict[str, RSAPublicKey]:
        assert self.url is not None
        client = self._http_client
        if client is None:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as own:
                return await self._download(own, self.url)
        return await self._download(client, self.url)

    async def _download(self, client: httpx.AsyncClient, url: str) -> dict[str, RSAPublicKey]:
        with anyio.fail_after(self._timeout.read or 5.0):
            async with client.stream(
                "GET", url, headers={"Accept": "application/json"}, timeout=self._timeout
            ) as response:
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code} from the key endpoint")
                content_type = response.headers.get("content-type", "")
                media = content_type.partition(";")[0].strip().lower()
                if media != "application/json" and not media.endswith("+json"):
                    raise ValueError(f"unexpected content type {media or 'none'!r}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
                    raise ValueError(f"key set larger than {self._max_bytes} bytes")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise ValueError(f"key set larger than {self._max_bytes} bytes")
        return parse_jwks(bytes(body))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timed out"
    if isinstance(exc, ValueError):
        return str(exc)
    # Other errors' messages may quote URLs or bodies; the type is enough for the log.
    return type(exc).__name__
