"""Time one token verification against a bare RSA signature check measured in the same run.

The baseline is what no verifier can avoid: cryptography's RSA-2048 PKCS#1 v1.5 / SHA-256
verify of a real token's signing input. Against it, in the same process:

    TokenVerifier.verify   uncached (token_cache_size=0), a miss of the verified-token
                           cache, and a hit (the same token again); keys preloaded
    joserfc                jwt.decode plus a JWTClaimsRegistry with the Cognito checks
    authlib, PyJWT         the same policy, when they are installed

A second table times the pieces of one uncached verification on their own. How rounds are
interleaved and warmed up: benchmarks/_timing.py. No row touches the network.

Usage:

    .venv/bin/python benchmarks/bench_verify.py [--quick] [--rounds N]
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import platform
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from time import perf_counter
from typing import Any, TypeVar

import cryptography
import joserfc
from _timing import (
    Batch,
    Row,
    measure,
    parse_run_options,
    print_table,
    sync_batch,
    verifier_with_a_full_cache,
)
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from cognito_asgi import CognitoSettings, TokenVerifier
from cognito_asgi._encoding import b64url_decode_fast, strict_json_object
from cognito_asgi._verifier import _SHA256_DIGEST_INFO
from cognito_asgi.testing import LocalIssuer

T = TypeVar("T")
TARGET = 1.4


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits for I/O, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the benchmarked code waited for I/O; keys must be preloaded")


def verify_batch(verify: Callable[[str], Awaitable[object]], tokens: list[str]) -> Batch:
    """`await verify(token)` in a running coroutine, as the middleware calls it."""

    async def loop(sequence: list[str]) -> float:
        start = perf_counter()
        for token in sequence:
            await verify(token)
        return perf_counter() - start

    source = itertools.cycle(tokens)  # each batch continues where the last one stopped

    def run(n: int) -> float:
        return drive(loop(list(itertools.islice(source, n))))

    return run


# --- the operations -------------------------------------------------------------------------


def registry_for(settings: CognitoSettings) -> JWTClaimsRegistry:
    """joserfc's claim checks for the policy TokenVerifier applies to access tokens."""
    exp: ClaimsOption = {"essential": True}
    iss: ClaimsOption = {"essential": True, "values": list(settings.issuers)}
    token_use: ClaimsOption = {"essential": True, "values": ["access"]}
    client: ClaimsOption = {"essential": True, "values": list(settings.client_ids)}
    return JWTClaimsRegistry(
        leeway=int(settings.leeway_seconds), exp=exp, iss=iss, token_use=token_use, client_id=client
    )


def joserfc_row(issuer: LocalIssuer, token: str) -> Row:
    key_set = KeySet.import_key_set(issuer.jwks())  # type: ignore[arg-type]
    registry = registry_for(issuer.settings())

    def decode() -> None:
        registry.validate(joserfc_jwt.decode(token, key_set, algorithms=["RS256"]).claims)

    return Row("joserfc: jwt.decode + JWTClaimsRegistry", sync_batch(decode))


def authlib_row(issuer: LocalIssuer, token: str) -> Row | None:
    try:
        # authlib.jose announces its deprecation through a filter that authlib.deprecate
        # installs when imported; import that first, so the filter below has the last word.
        importlib.import_module("authlib.deprecate")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jose: Any = importlib.import_module("authlib.jose")
    except ImportError:
        return None
    settings = issuer.settings()
    decoder = jose.JsonWebToken(["RS256"])
    key_set = jose.JsonWebKey.import_key_set(issuer.jwks())
    options = {
        "exp": {"essential": True},
        "iss": {"essential": True, "values": list(settings.issuers)},
        "token_use": {"essential": True, "value": "access"},
        "client_id": {"essential": True, "values": list(settings.client_ids)},
    }

    def decode() -> None:
        decoder.decode(token, key_set, claims_options=options).validate(leeway=5)

    return Row("authlib: JsonWebToken.decode + validate", sync_batch(decode))


def pyjwt_row(issuer: LocalIssuer, token: str) -> Row | None:
    try:
        pyjwt: Any = importlib.import_module("jwt")
    except ImportError:
        return None
    settings = issuer.settings()
    keys = {key.key_id: key.key for key in pyjwt.PyJWKSet.from_dict(issuer.jwks()).keys}
    issuers, client_ids = list(settings.issuers), settings.client_ids

    def decode() -> None:
        key = keys[pyjwt.get_unverified_header(token)["kid"]]
        claims = pyjwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=issuers,
            leeway=5,
            options={"require": ["exp", "iss", "token_use", "client_id"]},
        )
        if claims["token_use"] != "access" or claims["client_id"] not in client_ids:
            raise ValueError("refused")

    return Row(f"PyJWT {pyjwt.__version__}: jwt.decode + Cognito checks", sync_batch(decode))


def main() -> None:
    rounds, distinct = parse_run_options(__doc__)

    issuer = LocalIssuer()
    token = issuer.access_token()
    header_b64, payload_b64, signature_b64 = token.split(".")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    signature = b64url_decode_fast(signature_b64)
    public_key = issuer.key.get_op_key("verify")
    assert isinstance(public_key, RSAPublicKey)

    uncached = TokenVerifier(issuer.settings(token_cache_size=0))
    cached = TokenVerifier(issuer.settings())
    # More distinct tokens than a full cache holds, taken in turn: every look-up misses, and
    # each verification also pays for the cache's turning the token away.
    missing = verifier_with_a_full_cache(issuer, distinct // 4)
    fresh_tokens = [issuer.access_token(f"user{i}") for i in range(distinct)]

    baseline = Row(
        "bare verify: public_key.verify(sig, msg, PKCS1v15(), SHA256())",
        sync_batch(
            lambda: public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        ),
    )
    pkcs1v15, sha256 = padding.PKCS1v15(), hashes.SHA256()
    rows = [
        baseline,
        Row(
            "bare verify, padding and hash objects reused",
            sync_batch(lambda: public_key.verify(signature, signing_input, pkcs1v15, sha256)),
        ),
        Row("TokenVerifier.verify, uncached", verify_batch(uncached.verify, [token])),
        Row(
            "TokenVerifier.verify, cache miss (every token new)",
            verify_batch(missing.verify, fresh_tokens),
        ),
        Row("TokenVerifier.verify, cache hit (same token)", verify_batch(cached.verify, [token])),
        joserfc_row(issuer, token),
    ]
    rows += [row for row in (authlib_row(issuer, token), pyjwt_row(issuer, token)) if row]

    payload_json = b64url_decode_fast(payload_b64)
    payload = strict_json_object(payload_json)
    digest = hashlib.sha256(signing_input).digest()
    jwks, kid = uncached.jwks, issuer.kid
    pieces = [
        Row(
            "split into three parts (rpartition, partition)",
            sync_batch(lambda: token.rpartition(".")[0].partition(".")),
        ),
        Row(
            "base64url-decode the signature", sync_batch(lambda: b64url_decode_fast(signature_b64))
        ),
        Row("base64url-decode the payload", sync_batch(lambda: b64url_decode_fast(payload_b64))),
        Row(
            "key look-up (JWKSCache.get_cached)",
            sync_batch(lambda: jwks.get_cached(kid)),
        ),
        Row(
            "SHA-256 of the signing input (hashlib)",
            sync_batch(lambda: hashlib.sha256(signing_input).digest()),
        ),
        Row(
            "RSA: recover the PKCS#1 encoding, compare it with that digest's",
            sync_batch(
                lambda: (
                    public_key.recover_data_from_signature(signature, pkcs1v15, None)
                    == _SHA256_DIGEST_INFO + digest
                )
            ),
        ),
        Row(
            "strict JSON parse of the payload", sync_batch(lambda: strict_json_object(payload_json))
        ),
        Row(
            "claim checks (TokenVerifier._check_claims)",
            sync_batch(lambda: uncached._check_claims(payload)),
        ),
    ]

    measure(rows + pieces, rounds)
    assert missing.stats.cache_hits == 0, "the cache-miss row hit the cache"

    print(
        f"Python {platform.python_version()}, cryptography {cryptography.__version__} "
        f"({openssl_backend.openssl_version_text()}), joserfc {joserfc.__version__}; "
        f"{len(token)}-character access token, {rounds} interleaved rounds"
    )
    print_table(rows, baseline, "One verification, against the bare RSA verify")
    print_table(pieces, baseline, "The pieces of an uncached verification, each timed alone")
    ratio = rows[2].best / baseline.best
    verdict = "met" if ratio <= TARGET else "not met"
    print(f"\nuncached verify / bare verify = {ratio:.3f} (target ≤ {TARGET}: {verdict})")


if __name__ == "__main__":
    main()
