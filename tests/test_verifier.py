"""TokenVerifier: the pipeline's decisions, one refusal class per row."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from hashlib import sha1, sha256, sha384
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from joserfc import jws

from cognito_asgi import (
    ClaimError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidSignatureError,
    MalformedTokenError,
    NotYetValidError,
    TokenError,
    TokenVerifier,
    UnknownKeyError,
    UnsupportedHeaderError,
)
from cognito_asgi.testing import REMOVE, LocalIssuer
from tests.conftest import cached_tokens, deny_list


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"x" * 256) -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def sign_raw(issuer: LocalIssuer, payload: str) -> str:
    """Sign payload text exactly as given (for JSON no encoder would write)."""
    header = {"alg": "RS256", "kid": issuer.kid}
    return jws.serialize_compact(header, payload, issuer.key, algorithms=["RS256"])


def with_claim_text(issuer: LocalIssuer, extra: str) -> str:
    """A valid access token's claims with `extra` JSON text appended inside the object."""
    return sign_raw(issuer, json.dumps(claims_of(issuer.access_token()))[:-1] + ", " + extra + "}")


def groups_claim(value: Any) -> dict[str, Any]:
    return {"cognito:groups": value}


def swap_segment(token: str, index: int, new: str) -> str:
    parts = token.split(".")
    parts[index] = new
    return ".".join(parts)


@pytest.fixture
def verifier(issuer: LocalIssuer) -> TokenVerifier:
    return TokenVerifier(issuer.settings(token_cache_size=0, leeway_seconds=0))


async def test_accepts_a_valid_access_token(issuer: LocalIssuer, verifier: TokenVerifier) -> None:
    """A well-formed access token of the pool and client verifies and yields its claims."""
    claims = await verifier.verify(issuer.access_token("bob", groups=["admins"]))
    assert claims["username"] == "bob"
    assert claims["cognito:groups"] == ["admins"]
    with pytest.raises(TypeError):
        claims["username"] = "mallory"  # type: ignore[index]


async def test_accepts_both_issuer_forms(issuer: LocalIssuer, verifier: TokenVerifier) -> None:
    """The original and the newer issuer-cognito-idp issuer of the same pool are both accepted."""
    newer = f"https://issuer-cognito-idp.{issuer.region}.amazonaws.com/{issuer.user_pool_id}"
    await verifier.verify(issuer.access_token(iss=newer))


Case = tuple[Callable[[LocalIssuer], str], type[TokenError], str]
NOW = int(time.time())
OTHER = LocalIssuer(kid="other-key")

CASES: dict[str, Case] = {
    "empty": (lambda i: "", MalformedTokenError, ""),
    "two-parts": (lambda i: ".".join(i.access_token().split(".")[:2]), MalformedTokenError, ""),
    "four-parts": (lambda i: i.access_token() + ".AAAA", MalformedTokenError, ""),
    "five-parts": (lambda i: i.access_token() + ".e30.e30", MalformedTokenError, ""),
    "padding": (lambda i: i.access_token() + "==", MalformedTokenError, ""),
    "standard-alphabet": (
        lambda i: swap_segment(i.access_token(), 2, i.access_token().split(".")[2][:-2] + "+/"),
        MalformedTokenError,
        "",
    ),
    "non-canonical-last-char": (
        lambda i: swap_segment(i.access_token(), 0, b64(b'{"a":1}')[:-1] + "R"),
        MalformedTokenError,
        "",
    ),
    "whitespace": (lambda i: i.access_token().replace(".", ". ", 1), MalformedTokenError, ""),
    "non-ascii": (lambda i: i.access_token() + "é", MalformedTokenError, ""),
    "oversized": (lambda i: "a" * 20000 + ".b.c", MalformedTokenError, ""),
    "header-not-json": (lambda i: b64(b"nope") + ".e30.AAAA", MalformedTokenError, ""),
    "header-array": (lambda i: b64(b"[1]") + ".e30.AAAA", MalformedTokenError, ""),
    "header-duplicate-kid": (
        lambda i: swap_segment(
            i.access_token(), 0, b64(f'{{"alg":"RS256","kid":"x","kid":"{i.kid}"}}'.encode())
        ),
        MalformedTokenError,
        "",
    ),
    "alg-none": (
        lambda i: forge({"alg": "none", "kid": i.kid}, claims_of(i.access_token()), b""),
        UnsupportedHeaderError,
        "alg",
    ),
    "alg-none-with-signature": (
        lambda i: forge({"alg": "none", "kid": i.kid}, claims_of(i.access_token())),
        UnsupportedHeaderError,
        "alg",
    ),
    "alg-hs256": (
        lambda i: forge({"alg": "HS256", "kid": i.kid}, claims_of(i.access_token())),
        UnsupportedHeaderError,
        "alg",
    ),
    "alg-rs384": (
        lambda i: forge({"alg": "RS384", "kid": i.kid}, claims_of(i.access_token())),
        UnsupportedHeaderError,
        "alg",
    ),
    "alg-missing": (
        lambda i: forge({"kid": i.kid}, claims_of(i.access_token())),
        UnsupportedHeaderError,
        "alg",
    ),
    "kid-missing": (
        lambda i: i.access_token(header={"kid": REMOVE}),
        UnsupportedHeaderError,
        "kid",
    ),
    "kid-number": (
        lambda i: forge({"alg": "RS256", "kid": 7}, claims_of(i.access_token())),
        UnsupportedHeaderError,
        "kid",
    ),
    "crit": (
        lambda i: forge(
            {"alg": "RS256", "kid": i.kid, "crit": ["exp"], "exp": 1}, claims_of(i.access_token())
        ),
        UnsupportedHeaderError,
        "crit",
    ),
    "kid-unknown": (lambda i: i.access_token(header={"kid": "nope"}), UnknownKeyError, ""),
    "signed-by-other-key-under-known-kid": (
        lambda i: OTHER.sign(claims_of(i.access_token()), header={"kid": i.kid}),
        InvalidSignatureError,
        "",
    ),
    "tampered-payload": (
        lambda i: swap_segment(
            i.access_token(), 1, b64(json.dumps(claims_of(i.access_token("mallory"))).encode())
        ),
        InvalidSignatureError,
        "",
    ),
    "short-signature": (
        lambda i: swap_segment(i.access_token(), 2, b64(b"\1" * 255)),
        InvalidSignatureError,
        "",
    ),
    "expired": (lambda i: i.access_token(exp=NOW - 10), ExpiredTokenError, "exp"),
    "exp-missing": (lambda i: i.access_token(exp=REMOVE), ClaimError, "exp"),
    "exp-string": (lambda i: i.access_token(exp=str(NOW + 100)), ClaimError, "exp"),
    "exp-bool": (lambda i: i.access_token(exp=True), ClaimError, "exp"),
    "exp-huge-float": (
        lambda i: sign_raw(
            i, json.dumps(claims_of(i.access_token(exp=REMOVE)))[:-1] + ', "exp": 1e400}'
        ),
        ClaimError,
        "exp",
    ),
    "exp-nan": (lambda i: with_claim_text(i, '"nbf": NaN'), MalformedTokenError, ""),
    "payload-array": (lambda i: sign_raw(i, "[1, 2]"), MalformedTokenError, ""),
    "payload-nested-deep": (
        lambda i: with_claim_text(i, '"x": ' + "[" * 5000 + "]" * 5000),
        MalformedTokenError,
        "",
    ),
    "payload-duplicate-claim": (
        lambda i: with_claim_text(i, '"username": "root"'),
        MalformedTokenError,
        "",
    ),
    "nbf-future": (lambda i: i.access_token(nbf=NOW + 600), NotYetValidError, "nbf"),
    "iat-future": (lambda i: i.access_token(iat=NOW + 600), NotYetValidError, "iat"),
    "iat-list": (lambda i: i.access_token(iat=[NOW]), ClaimError, "iat"),
    "iss-other-pool": (
        lambda i: i.access_token(iss=i.issuer.replace("LocalPool1", "OtherPool9")),
        ClaimError,
        "iss",
    ),
    "iss-trailing-slash": (lambda i: i.access_token(iss=i.issuer + "/"), ClaimError, "iss"),
    "iss-list": (lambda i: i.access_token(iss=[i.issuer]), ClaimError, "iss"),
    "iss-missing": (lambda i: i.access_token(iss=REMOVE), ClaimError, "iss"),
    "token-use-id-where-access": (lambda i: i.id_token(), ClaimError, "token_use"),
    "token-use-refresh": (lambda i: i.access_token(token_use="refresh"), ClaimError, "token_use"),
    "token-use-missing": (lambda i: i.access_token(token_use=REMOVE), ClaimError, "token_use"),
    "client-id-other": (lambda i: i.access_token(client_id="someoneelse"), ClaimError, "client_id"),
    "client-id-missing": (lambda i: i.access_token(client_id=REMOVE), ClaimError, "client_id"),
    "sub-missing": (lambda i: i.access_token(sub=REMOVE), ClaimError, "sub"),
    "sub-number": (lambda i: i.access_token(sub=12), ClaimError, "sub"),
    "scope-list": (lambda i: i.access_token(scope=["a"]), ClaimError, "scope"),
    "jti-number": (lambda i: i.access_token(jti=1), ClaimError, "jti"),
    "groups-string": (lambda i: i.access_token(**groups_claim("admins")), ClaimError, ""),
    "groups-mixed": (lambda i: i.access_token(**groups_claim(["a", 1])), ClaimError, ""),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_refuses(issuer: LocalIssuer, verifier: TokenVerifier, case: Case) -> None:
    """Each class of bad token is refused with its own error type (and claim or header)."""
    make, error, detail = case
    with pytest.raises(error) as caught:
        await verifier.verify(make(issuer))
    if detail:
        assert getattr(caught.value, "claim", getattr(caught.value, "header", None)) == detail


async def test_id_tokens_check_aud(issuer: LocalIssuer) -> None:
    """With token_use=id, an id token's aud must be one of the client ids."""
    verifier = TokenVerifier(issuer.settings(token_use="id"))
    claims = await verifier.verify(issuer.id_token("carol", email="c@example.com"))
    assert claims["email"] == "c@example.com"
    with pytest.raises(ClaimError) as caught:
        await verifier.verify(issuer.id_token(aud="another"))
    assert caught.value.claim == "aud"
    with pytest.raises(ClaimError) as caught:
        await verifier.verify(issuer.id_token(aud=[issuer.client_id]))
    assert caught.value.claim == "aud"
    with pytest.raises(ClaimError) as caught:
        await verifier.verify(issuer.access_token())
    assert caught.value.claim == "token_use"


async def test_any_token_use_and_several_clients(issuer: LocalIssuer) -> None:
    """token_use=any accepts both kinds; every listed client id is accepted."""
    verifier = TokenVerifier(issuer.settings(token_use="any", client_ids=("a1", issuer.client_id)))
    await verifier.verify(issuer.access_token())
    await verifier.verify(issuer.id_token())
    await verifier.verify(issuer.access_token(client_id="a1"))


async def test_leeway_applies_to_exp_nbf_iat(issuer: LocalIssuer) -> None:
    """A token within the leeway of exp, nbf or iat passes; beyond it, it does not."""
    now = time.time()
    verifier = TokenVerifier(issuer.settings(leeway_seconds=30, token_cache_size=0))
    await verifier.verify(issuer.access_token(exp=int(now) - 20))
    await verifier.verify(issuer.access_token(nbf=int(now) + 20, iat=int(now) + 20))
    with pytest.raises(ExpiredTokenError):
        await verifier.verify(issuer.access_token(exp=int(now) - 40))


async def test_groups_scopes_and_custom_check(issuer: LocalIssuer) -> None:
    """Required groups and scopes need one match each; a custom check may refuse."""
    verifier = TokenVerifier(issuer.settings(), groups=["admins", "ops"], scopes=["api/read"])
    await verifier.verify(issuer.access_token(groups=["ops"], scopes=["api/read", "x"]))
    with pytest.raises(InsufficientScopeError) as caught:
        await verifier.verify(issuer.access_token(groups=["users"], scopes=["api/read"]))
    assert caught.value.missing_groups == ("admins", "ops")
    with pytest.raises(InsufficientScopeError):
        await verifier.verify(issuer.access_token(groups=["ops"], scopes=["api/write"]))

    async def only_bob(claims: Any) -> None:
        if claims["username"] != "bob":
            raise ClaimError("username", "only bob may pass")

    checked = TokenVerifier(issuer.settings(), custom_check=only_bob)
    await checked.verify(issuer.access_token("bob"))
    with pytest.raises(ClaimError):
        await checked.verify(issuer.access_token("eve"))


# DER DigestInfo prefixes (RFC 8017 §9.2 note 1) and a spelling some verifiers also accept.
_SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_SHA256_INFO_NO_NULL = bytes.fromhex("302f300b06096086480165030402010420")
_SHA384_INFO = bytes.fromhex("3041300d060960864801650304020205000430")
_SHA1_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


def signed_encoding(issuer: LocalIssuer, signing_input: str, encoded: bytes) -> str:
    """The token whose signature is the RSA signature primitive (RFC 8017 §5.2.1) applied to
    `encoded` as it is: any encoded message, well-formed or not, signed by the pool's key."""
    private = issuer.key.private_key
    assert isinstance(private, RSAPrivateKey)
    numbers = private.private_numbers()
    modulus = numbers.public_numbers.n
    signature = pow(int.from_bytes(encoded, "big"), numbers.d, modulus)
    return f"{signing_input}.{b64(signature.to_bytes(256, 'big'))}"


def pkcs1(t: bytes, *, block_type: bytes = b"\x01", filler: bytes = b"\xff") -> bytes:
    """EMSA-PKCS1-v1_5 (RFC 8017 §9.2) of the DER `t`, for a 2048-bit key."""
    return b"\x00" + block_type + filler * (256 - 3 - len(t)) + b"\x00" + t


def _d256(data: bytes) -> bytes:
    return sha256(data).digest()


# Each from the signing input to an encoded message that is not its RS256 encoding.
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "sha384-digest-info": lambda data: pkcs1(_SHA384_INFO + sha384(data).digest()),
    "sha1-digest-info": lambda data: pkcs1(_SHA1_INFO + sha1(data).digest()),  # noqa: S324
    "digest-info-without-null": lambda data: pkcs1(_SHA256_INFO_NO_NULL + _d256(data)),
    "bare-digest": lambda data: pkcs1(_d256(data)),
    "trailing-byte": lambda data: pkcs1(_SHA256_INFO + _d256(data) + b"\x00"),
    "block-type-2": lambda data: pkcs1(_SHA256_INFO + _d256(data), block_type=b"\x02"),
    "filler-not-ff": lambda data: pkcs1(_SHA256_INFO + _d256(data), filler=b"\xfe"),
    "digest-of-other-text": lambda data: pkcs1(_SHA256_INFO + _d256(data + b" ")),
}


async def test_the_raw_signature_helper_signs_the_genuine_encoding(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(issuer.settings(token_cache_size=0))
    signing_input = issuer.access_token().rpartition(".")[0]
    encoded = pkcs1(_SHA256_INFO + _d256(signing_input.encode()))
    assert (await verifier.verify(signed_encoding(issuer, signing_input, encoded)))["sub"]


@pytest.mark.parametrize("encoding", list(ENCODINGS))
async def test_a_signature_over_another_encoding_is_refused(
    issuer: LocalIssuer, encoding: str
) -> None:
    """Only the exact EMSA-PKCS1-v1_5 encoding of the SHA-256 digest verifies: the pool's own
    key signing any other encoded message does not make a token (RFC 8017 §8.2.2)."""
    verifier = TokenVerifier(issuer.settings(token_cache_size=0))
    signing_input = issuer.access_token().rpartition(".")[0]
    encoded = ENCODINGS[encoding](signing_input.encode())
    forged = signed_encoding(issuer, signing_input, encoded)
    with pytest.raises(InvalidSignatureError):
        await verifier.verify(forged)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_cache_serves_repeats_but_never_past_exp(issuer: LocalIssuer) -> None:
    """A verified token is served from the cache until its exp, then refused as expired."""
    clock = Clock()
    verifier = TokenVerifier(issuer.settings(leeway_seconds=0), clock=clock)
    token = issuer.access_token(exp=int(clock.now) + 60)
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    clock.now += 61
    with pytest.raises(ExpiredTokenError):
        await verifier.verify(token)


async def test_cache_is_bounded_and_keyed_by_the_exact_token(issuer: LocalIssuer) -> None:
    """The cache holds at most token_cache_size entries; a re-spelled token is not a hit."""
    verifier = TokenVerifier(issuer.settings(token_cache_size=3))
    tokens = [issuer.access_token(f"user{n}") for n in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert len(verifier._cache) == 3
    with pytest.raises(MalformedTokenError):
        await verifier.verify(tokens[-1] + "=")


async def test_a_token_that_only_ends_like_a_cached_one_is_verified_in_full(
    issuer: LocalIssuer,
) -> None:
    """The cache finds entries by a token's last characters but answers only the exact token."""
    verifier = TokenVerifier(issuer.settings())
    token = issuer.access_token("ida")
    await verifier.verify(token)
    signature = token.rpartition(".")[2]
    changed = "A" if token[-40] != "A" else "B"  # in the signature, before the last 32
    lookalikes = [
        f"{issuer.access_token('mallory').rpartition('.')[0]}.{signature}",
        f"x{token}",
        f"{token[:-40]}{changed}{token[-39:]}",
    ]
    for lookalike in lookalikes:
        assert verifier.cached_user(lookalike) is None
        with pytest.raises(TokenError):
            await verifier.verify(lookalike)
    assert verifier.stats.cache_hits == 0
    assert verifier.cached_user(token) is not None


async def test_a_full_cache_takes_a_new_token_in_on_its_second_verification(
    issuer: LocalIssuer,
) -> None:
    """A token used once does not push a reused one out of a full cache: a new token is cached
    on its second verification, and only then evicts the least recently used."""
    verifier = TokenVerifier(issuer.settings(token_cache_size=3))
    held = [issuer.access_token(f"held{n}") for n in range(3)]
    for token in held:
        await verifier.verify(token)
    await verifier.verify(held[0])  # held[1] is now the least recently used
    newcomer = issuer.access_token("newcomer")
    await verifier.verify(newcomer)
    assert cached_tokens(verifier) == [held[1], held[2], held[0]]
    await verifier.verify(newcomer)
    assert cached_tokens(verifier) == [held[2], held[0], newcomer]
    assert (verifier.stats.cache_hits, verifier.stats.cache_misses) == (1, 5)
    assert verifier.stats.cache_turned_away == 1
    await verifier.verify(newcomer)
    assert (verifier.stats.cache_hits, verifier.stats.cache_misses) == (2, 5)


async def test_a_full_cache_remembers_only_its_latest_refusals(issuer: LocalIssuer) -> None:
    """What a full cache turned away is remembered (as hashes) for the next token_cache_size
    refusals at most: a token back after more than those counts as new again."""
    verifier = TokenVerifier(issuer.settings(token_cache_size=2))
    for n in range(2):
        await verifier.verify(issuer.access_token(f"held{n}"))
    once = issuer.access_token("once")
    await verifier.verify(once)
    for n in range(2):
        await verifier.verify(issuer.access_token(f"other{n}"))
        assert len(verifier._turned_away) <= 2
    await verifier.verify(once)
    assert once not in cached_tokens(verifier)
    await verifier.verify(once)
    assert once in cached_tokens(verifier)


async def test_cache_is_dropped_when_the_key_set_changes(issuer: LocalIssuer) -> None:
    """When the key set changes, cached tokens are verified again (and refused if keyless)."""
    from cognito_asgi import JWKSCache

    token = issuer.access_token()
    jwks = JWKSCache(None, preloaded=issuer.jwks_json())
    verifier = TokenVerifier(issuer.settings(), jwks=jwks)
    await verifier.verify(token)
    old_kid = issuer.kid
    issuer.add_key()
    issuer.remove_key(old_kid)
    jwks._install(__import__("cognito_asgi").parse_jwks(issuer.jwks_json().encode()))
    with pytest.raises(UnknownKeyError):
        await verifier.verify(token)


async def test_custom_check_runs_on_cached_tokens_too(issuer: LocalIssuer) -> None:
    """A custom check (say, a deny list) is consulted on every use, not only the first."""
    denied, not_denied = deny_list("jti", "the token was revoked")
    verifier = TokenVerifier(issuer.settings(), custom_check=not_denied)
    token = issuer.access_token()
    claims = await verifier.verify(token)
    assert await verifier.verify(token) is claims
    denied.add(claims["jti"])
    with pytest.raises(ClaimError, match="revoked"):
        await verifier.verify(token)
    assert verifier.stats.cache_hits == 2


async def test_checks_of_every_use_bypass_the_cached_user(issuer: LocalIssuer) -> None:
    """With a custom check or a subclass's check_use, authenticate() never answers from the
    cache without running it; with neither, a reused token costs no check."""
    seen: list[str] = []

    class Counting(TokenVerifier):
        async def check_use(self, token: str, claims: Any) -> None:
            await super().check_use(token, claims)
            seen.append(claims["username"])

    token = issuer.access_token("kim")
    counting = Counting(issuer.settings())
    for _ in range(3):
        assert (await counting.authenticate(token)).username == "kim"
    assert counting.cached_user(token) is None
    assert seen == ["kim", "kim", "kim"]

    plain = TokenVerifier(issuer.settings())
    user = await plain.authenticate(token)
    assert plain.cached_user(token) is user
