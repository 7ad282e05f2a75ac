from __future__ import annotations

import inspect
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from hashlib import sha256
from types import MappingProxyType
from typing import Any, overload

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ._encoding import b64url_decode_fast, strict_json_object
from ._errors import (
    ClaimError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidSignatureError,
    MalformedTokenError,
    NotYetValidError,
    UnsupportedHeaderError,
)
from ._jwks import MAX_KID_LENGTH, JWKSCache
from ._requirements import _names
from ._settings import CognitoSettings
from ._stats import AuthStats
from ._user import CognitoUser

__all__ = ["Claims", "CustomCheck", "TokenVerifier"]

Claims = Mapping[str, Any]
CustomCheck = Callable[[Claims], Awaitable[None] | None]

#: Longest token accepted. Cognito's tokens are 1-4 KB; the cap bounds the work an attacker can
#: ask of the JSON parser (and, with 8 KB headers in most servers, rarely binds).
MAX_TOKEN_LENGTH = 16 * 1024

#: How many of a token's last characters index the cache: part of the RS256 signature (342
#: characters at 2048 bits) for every token held, so distinct in practice. An index only: an entry
#: answers a token that equals the one it holds.
_CACHE_KEY_LENGTH = 32
_CACHE_KEY = slice(-_CACHE_KEY_LENGTH, None)
_BEARER = b"Bearer "
#: Times at least this far out (285 million years) are held as never expiring: a float holds
#: every integer below it exactly, and a larger one might not convert at all.
_FLOAT_TIMES = 2**53

_PADDING = PKCS1v15()
# The DER DigestInfo of a SHA-256 digest, before the digest itself (RFC 8017 §9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_KNOWN_HEADERS = 64
# Checked by type wherever they appear. client_id and aud are also checked by value, each in
# the token kind that carries it; aud is typed by RFC 7519 §4.1.3 even where Cognito omits it.
_STRING_CLAIMS = (
    "username",
    "cognito:username",
    "scope",
    "jti",
    "email",
    "origin_jti",
    "client_id",
    "aud",
)
# nbf and iat may be left out, but a null one is a wrong type (as aws-jwt-verify sees it).
_ABSENT: Any = object()
_TOKEN_USES = {"access": frozenset({"access"}), "id": frozenset({"id"}), "any": None}
_GROUPS_NOT_STRINGS = "the token's cognito:groups is not a string list"


def _check_header(header_b64: str) -> str:
    """Decode and check a JOSE header (RFC 7515 §4); return its kid."""
    try:
        header = strict_json_object(b64url_decode_fast(header_b64))
    except ValueError:
        raise MalformedTokenError("the token header is not canonical base64url JSON") from None
    if header.get("alg") != "RS256":
        raise UnsupportedHeaderError("alg", "the token's algorithm must be RS256")
    kid = header.get("kid")
    if type(kid) is not str or not kid or len(kid) > MAX_KID_LENGTH:
        raise UnsupportedHeaderError("kid", "the token header has no usable kid")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extension, so a token that needs one is refused.
        raise UnsupportedHeaderError("crit", "the token header has a crit parameter")
    # jku, x5u, x5c and jwk are ignored on purpose: the key comes from the pool's set only.
    return kid


def _is_number(value: object) -> bool:
    # bool is an int subclass; JSON's true is not a time. 1e400 parses as inf.
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))  # type: ignore[arg-type]


class _Entry:
    """A verified token in the cache, its claims, until when, and its user once built.

    The token is held as the Authorization header value that carries it, `Bearer <token>`
    (ASCII bytes), so that a request's header is matched without being parsed or decoded.
    """

    __slots__ = ("authorization", "claims", "credentials", "exp", "user")

    def __init__(self, token: str, claims: Claims, exp: float) -> None:
        self.authorization = _BEARER + token.encode("ascii")
        self.claims = claims
        # A float, as the clock reads: comparing an int with a float takes the slow path.
        self.exp = float(exp) if exp < _FLOAT_TIMES else math.inf
        self.user: CognitoUser | None = None
        #: What CognitoAuthMiddleware puts in `scope["auth"]` for this token, once it has: a
        #: cache hit then needs no look-up of its own.
        self.credentials: object = None

    def holds(self, token: bytes) -> bool:
        """Whether this is the entry of `token`, ASCII-encoded."""
        held = self.authorization
        return len(held) == len(_BEARER) + len(token) and held.endswith(token)


class TokenVerifier:
    """Verifies Cognito access and id tokens: signature, then claims, in aws-jwt-verify's order.

    Usage::

        verifier = TokenVerifier(CognitoSettings.from_env())
        claims = await verifier.verify(token)   # raises a TokenError subclass on refusal

    `groups` and `scopes` (each "at least one of", as in aws-jwt-verify) and `custom_check` (a
    function, sync or async, that raises to refuse) add checks after the standard ones.
    Verified tokens are cached (up to `settings.token_cache_size`, never past their `exp`, and
    emptied when the key set changes), so a client reusing its token costs a dictionary look-up;
    once the cache is full, a new token goes in on its second verification.
    """

    def __init__(
        self,
        settings: CognitoSettings,
        *,
        jwks: JWKSCache | None = None,
        http_client: httpx.AsyncClient | None = None,
        groups: Iterable[str] = (),
        scopes: Iterable[str] = (),
        custom_check: CustomCheck | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        if jwks is None:
            preloaded = settings.jwks_json
            # A preloaded key set is used offline unless a key URL was configured explicitly.
            url = None if preloaded is not None else settings.jwks_url
            jwks = JWKSCache(
                url,
                preloaded=preloaded,
                http_client=http_client,
                cooldown=settings.jwks_cooldown_seconds,
                max_age=settings.jwks_max_age_seconds,
                max_stale=settings.jwks_max_stale_seconds,
                timeout=settings.jwks_timeout_seconds,
            )
        self.jwks = jwks
        self._issuers = frozenset(settings.issuers)
        self._client_ids = frozenset(settings.client_ids)
        self._token_uses = _TOKEN_USES[settings.token_use]
        self._leeway = settings.leeway_seconds
        self._groups = frozenset(_names("groups", groups))
        self._scopes = frozenset(_names("scopes", scopes))
        self._custom_check = custom_check
        self._checks_every_use = (
            custom_check is not None or type(self).check_use is not TokenVerifier.check_use
        )
        cls = type(self)
        #: True when a token whose key is held is verified without awaiting anything: no check
        #: on every use, and verify() and authenticate() are this class's own. The middleware
        #: then verifies the tokens of concurrent requests in batches (see _batching.py).
        self._verifies_without_waiting = not self._checks_every_use and (
            cls.verify is TokenVerifier.verify and cls.authenticate is TokenVerifier.authenticate
        )
        self._clock = clock
        self._cache_size = settings.token_cache_size
        # Entries by their token's last _CACHE_KEY_LENGTH characters (ASCII bytes, as a header
        # brings them), least recently used first.
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        # Called through locals on a cache hit: `self._cache.get(...)` takes an unspecialised
        # method look-up on every call.
        self._cache_get = self._cache.get
        self._cache_move_to_end = self._cache.move_to_end
        self._cache_generation = jwks.generation
        # Hashes of the tokens a full cache turned away, lately: see _admits().
        self._turned_away: set[int] = set()
        self._known_headers: dict[str, str] = {}
        #: Counters for monitoring; see cognito_asgi.prometheus.
        self.stats = AuthStats()

    async def verify(self, token: str) -> Claims:
        """Verify `token` and return its claims (read-only); raise a TokenError on refusal."""
        if type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
            raise MalformedTokenError("the token is not a string of acceptable length")
        if self._cache_size:
            entry = self._fresh_entry(token)
            if entry is not None:
                self.stats.cache_hits += 1
                if self._checks_every_use:
                    # Such checks may depend on more than the claims (a deny list, the time,
                    # a revocation): they run on every use, cached or not.
                    await self.check_use(token, entry.claims)
                return entry.claims
            self.stats.cache_misses += 1

        verified = self._verify_with(token)
        if isinstance(verified, str):  # the key of this kid is not held: fetch, then verify
            verified = self._verify_with(token, await self.jwks.get_key(verified))
        claims, exp = verified
        if self._checks_every_use:
            await self.check_use(token, claims)
        self._remember(token, claims, exp)
        return claims

    @overload
    def _verify_with(self, token: str, key: RSAPublicKey) -> tuple[Claims, float]: ...
    @overload
    def _verify_with(self, token: str, key: None = None) -> tuple[Claims, float] | str: ...
    def _verify_with(
        self, token: str, key: RSAPublicKey | None = None
    ) -> tuple[Claims, float] | str:
        """Verify `token` with `key`, or with the held key of its kid: its claims and exp.

        Without `key`, when no fresh key for the token's kid is held, only the kid is returned
        (the caller fetches the key set and tries again). Raises a TokenError on refusal.
        """
        # RFC 7515 §7.1: header.payload.signature. partition() finds each dot with memchr,
        # where split() steps through every character, and rpartition() hands over the signing
        # input "header.payload" (§5.2) without another copy.
        signing_text, _, signature_b64 = token.rpartition(".")
        header_b64, dot, payload_b64 = signing_text.partition(".")
        if not dot or "." in payload_b64:
            raise MalformedTokenError("the token is not a compact JWS (three base64url parts)")
        known_kid = self._known_headers.get(header_b64)
        kid = known_kid or _check_header(header_b64)
        try:
            signature = b64url_decode_fast(signature_b64)
            payload_json = b64url_decode_fast(payload_b64)
        except ValueError:
            raise MalformedTokenError(
                "the token is not a compact JWS (canonical base64url parts)"
            ) from None
        if key is None:
            key = self.jwks.get_cached(kid)
            if key is None:
                return kid

        if len(signature) != (key.key_size + 7) // 8:
            raise InvalidSignatureError(kid)
        # RSASSA-PKCS1-v1_5 verification, RFC 8017 §8.2.2. OpenSSL applies RSAVP1 and checks
        # the padding (00 01 FF..FF 00) of the encoded message; the rest of it, T, must then
        # equal the DER DigestInfo of the SHA-256 of the signing input: compared whole, never
        # parsed, the RFC's "encode and compare". Spelled out instead of key.verify(), this
        # spares cryptography's set-up of a digest per call. The parts are ASCII by now.
        try:
            encoded = key.recover_data_from_signature(signature, _PADDING, None)
        except InvalidSignature:
            raise InvalidSignatureError(kid) from None
        if encoded != _SHA256_DIGEST_INFO + sha256(signing_text.encode("ascii")).digest():
            raise InvalidSignatureError(kid)
        if known_kid is None and len(self._known_headers) < _KNOWN_HEADERS:
            # Only headers of tokens whose signature verified get here, so the memo cannot be
            # filled by an attacker; it saves decoding the same few headers on every request.
            self._known_headers[header_b64] = kid

        # The payload is parsed only once its signature is known to be the pool's.
        try:
            payload = strict_json_object(payload_json)
        except ValueError:
            raise MalformedTokenError("the token payload is not a JSON object") from None
        claims = MappingProxyType(payload)
        exp = self._check_claims(payload)
        if self._groups or self._scopes:
            self._check_groups_and_scopes(claims)
        return claims, exp

    def _remember(self, token: str, claims: Claims, exp: float) -> _Entry | None:
        """Cache a verified token until its exp, evicting the least recently used."""
        if self._cache_size and exp > self._clock():
            key = token[_CACHE_KEY].encode("ascii")  # verified, so ASCII
            if len(self._cache) >= self._cache_size and not self._admits(key):
                return None
            entry = self._cache[key] = _Entry(token, claims, exp)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return entry
        return None

    def _admits(self, key: bytes) -> bool:
        """Whether a full cache takes in the token of cache key `key`, evicting its least
        recently used entry: only on the token's second verification lately.

        A token used once (a client that fetches a token per call) would only push out one that
        is reused, and each insertion costs more than it seems: it evicts an entry that the
        processor's caches no longer hold (5-9 µs a request at 10,000 entries in a loaded
        uvicorn worker, a sixth of a verification there). "Lately" is the last
        `token_cache_size` tokens turned away; only a hash of each one's cache key is kept.
        """
        mark = hash(key)
        if mark in self._turned_away:
            self._turned_away.discard(mark)
            return True
        if len(self._turned_away) >= self._cache_size:
            self._turned_away = set()
        self._turned_away.add(mark)
        self.stats.cache_turned_away += 1
        return False

    def _authenticate_now(self, token: str) -> CognitoUser | None:
        """authenticate() without awaiting, for verifiers whose checks never await
        (`_verifies_without_waiting`) and a token that `cached_user` just missed: the user, or
        a TokenError raised, or None when the key set must be fetched first (the caller then
        awaits authenticate())."""
        if type(token) is not str or len(token) > MAX_TOKEN_LENGTH:
            raise MalformedTokenError("the token is not a string of acceptable length")
        counted = bool(self._cache_size)
        self.stats.cache_misses += counted
        verified = self._verify_with(token)
        if isinstance(verified, str):
            self.stats.cache_misses -= counted  # authenticate() counts it
            return None
        claims, exp = verified
        entry = self._remember(token, claims, exp)
        return CognitoUser.from_claims(claims) if entry is None else self._user_of(entry)

    @staticmethod
    def _user_of(entry: _Entry) -> CognitoUser:
        """The user of a cached token, built on first use."""
        if entry.user is None:
            entry.user = CognitoUser.from_claims(entry.claims)
        return entry.user

    def cached_user(self, token: str) -> CognitoUser | None:
        """The user of `token` when it is in the cache and valid, without I/O; else None.

        None also when a check must run on every use (`custom_check`, or a subclass's
        `check_use`), since that check is awaited.
        """
        if self._checks_every_use or len(token) > MAX_TOKEN_LENGTH:
            return None  # verify() awaits the check, or refuses the token
        entry = self._fresh_entry(token)
        if entry is None:
            return None
        self.stats.cache_hits += 1
        return entry.user or self._user_of(entry)

    def _cached_entry_of_header(self, authorization: bytes) -> _Entry | None:
        """The cache entry, its user built, of the token of a request's Authorization header
        value read as it came, when that is exactly `Bearer <token>` of a cached valid token;
        else None. A hit is counted and marks the entry recently used.

        A client sends its token the same way each time, so a reused token is answered with
        one comparison, before the header is parsed, decoded as text or hashed in full. Any
        other form of the header is parsed by the caller and given to `cached_user`; the token
        of a header in this form, missed here, is not in the cache either.
        """
        # On the path of every reused token, so written to run few and specialised bytecodes:
        # attributes called through locals, a slice built once.
        key = authorization[_CACHE_KEY]
        lookup = self._cache_get
        entry = lookup(key)
        if entry is None or entry.authorization != authorization or self._checks_every_use:
            return None  # not cached, or cached_user() says why
        if self._cache_generation != self.jwks.generation:
            self._drop_cache()
            return None
        if not self._is_live(key, entry):
            return None
        self.stats.cache_hits += 1
        if entry.user is None:
            self._user_of(entry)
        return entry

    def _fresh_entry(self, token: str) -> _Entry | None:
        """The cache entry of `token` if it is still valid (and mark it recently used)."""
        if self._cache_generation != self.jwks.generation:
            self._drop_cache()
            return None
        if not token.isascii():
            return None  # isascii() reads a flag; a token that is not ASCII was never verified
        data = token.encode("ascii")
        key = data[_CACHE_KEY]
        entry = self._cache.get(key)
        if entry is None or not entry.holds(data) or not self._is_live(key, entry):
            return None
        return entry

    def _drop_cache(self) -> None:
        """Forget every cached token: the key set changed, so each is verified again."""
        self._cache.clear()
        self._cache_generation = self.jwks.generation

    def _is_live(self, key: bytes, entry: _Entry) -> bool:
        """Whether `entry` has not expired; if so, mark it recently used, else drop it."""
        clock = self._clock
        if clock() >= entry.exp:
            del self._cache[key]
            return False
        move_to_end = self._cache_move_to_end
        move_to_end(key)
        return True

    async def authenticate(self, token: str) -> CognitoUser:
        """Verify `token` and return its user; a cached token's user is built only once."""
        user = self.cached_user(token) if type(token) is str else None
        if user is not None:
            return user
        claims = await self.verify(token)
        entry = self._cache.get(token[_CACHE_KEY].encode("ascii"))
        if entry is None or entry.claims is not claims:
            return CognitoUser.from_claims(claims)
        return self._user_of(entry)

    def _check_claims(self, payload: dict[str, Any]) -> float:
        # On the hot path: each test is one dict look-up and one type test. The `type(...) is
        # int` before `_is_number` spares a call for the integer times Cognito issues.
        now = self._clock()
        leeway = self._leeway
        exp: float = payload.get("exp")  # type: ignore[assignment]
        if type(exp) is not int and not _is_number(exp):
            raise ClaimError("exp", "the token has no numeric exp claim")
        # Written so that an integer exp too large for a float is compared, not converted.
        if now - leeway >= exp:
            raise ExpiredTokenError()
        nbf = payload.get("nbf", _ABSENT)
        if nbf is not _ABSENT:
            if type(nbf) is not int and not _is_number(nbf):
                raise ClaimError("nbf", "the token's nbf claim is not a number")
            if now + leeway < nbf:
                raise NotYetValidError("nbf")
        iat = payload.get("iat", _ABSENT)
        if iat is not _ABSENT:
            if type(iat) is not int and not _is_number(iat):
                raise ClaimError("iat", "the token's iat claim is not a number")
            if iat > now + leeway:
                raise NotYetValidError("iat")
        iss = payload.get("iss")
        if type(iss) is not str or iss not in self._issuers:
            raise ClaimError("iss", "the token was not issued by this user pool")
        token_use = payload.get("token_use")
        if type(token_use) is not str or token_use not in ("access", "id"):
            raise ClaimError("token_use", "the token has no valid token_use claim")
        if self._token_uses is not None and token_use not in self._token_uses:
            raise ClaimError("token_use", f"{token_use} tokens are not accepted here")
        if token_use == "access":
            client_id = payload.get("client_id")
            if type(client_id) is not str or client_id not in self._client_ids:
                raise ClaimError("client_id", "the token was issued to another app client")
        else:
            aud = payload.get("aud")
            if type(aud) is not str or aud not in self._client_ids:
                raise ClaimError("aud", "the token was issued to another app client")
        if type(payload.get("sub")) is not str:
            raise ClaimError("sub", "the token has no string sub claim")
        for name in _STRING_CLAIMS:
            if type(payload.get(name, "")) is not str:
                raise ClaimError(name, f"the token's {name} claim is not a string")
        groups = payload.get("cognito:groups")
        if groups is not None:
            # A plain loop: a generator expression costs more than the few groups it tests.
            if type(groups) is not list:
                raise ClaimError("cognito:groups", _GROUPS_NOT_STRINGS)
            for group in groups:
                if type(group) is not str:
                    raise ClaimError("cognito:groups", _GROUPS_NOT_STRINGS)
        return exp

    def _check_groups_and_scopes(self, claims: Claims) -> None:
        if self._groups and self._groups.isdisjoint(claims.get("cognito:groups") or ()):
            raise InsufficientScopeError(
                "the user is in none of the required groups",
                missing_groups=tuple(sorted(self._groups)),
            )
        if self._scopes and self._scopes.isdisjoint((claims.get("scope") or "").split()):
            raise InsufficientScopeError(
                "the token has none of the required scopes",
                missing_scopes=tuple(sorted(self._scopes)),
            )

    async def check_use(self, token: str, claims: Claims) -> None:
        """Checks that run on every use of a verified token, served from the cache or not.

        By default the `custom_check`. A subclass may add its own (calling super()); the cache
        then never answers without running them.
        """
        if self._custom_check is not None:
            outcome = self._custom_check(claims)
            if inspect.isawaitable(outcome):
                await outcome

    async def start(self) -> bool:
        """Fetch the key set ahead of the first request; True when keys are usable."""
        return await self.jwks.refresh()
