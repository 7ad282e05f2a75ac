"""Differential test: our accept/reject decisions against joserfc's, over a corpus of tokens.

joserfc is given the equivalent Cognito policy: `jwt.decode(token, key_set,
algorithms=["RS256"])` with the pool's key set, then a `JWTClaimsRegistry` with the same
leeway that requires `exp`, one of the pool's issuers, the accepted `token_use`, and the app
client in `client_id` (access tokens) or `aud` (id tokens).

The rule: we never accept a token joserfc refuses. Where the two disagree we refuse and
joserfc accepts; every such case is listed in `STRICTER` with its reason.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from cognito_asgi import TokenError, TokenUse, TokenVerifier
from cognito_asgi.testing import REMOVE, LocalIssuer

# Times an hour or more away from NOW stay on their side of every check for a whole test run.
NOW = int(time.time())
HOUR = 3600
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(scope="module")
def pool() -> LocalIssuer:
    # One pool for the module: key generation is slow and no test here changes the keys.
    return LocalIssuer()


# --- deciding -------------------------------------------------------------------------------


async def our_refusal(pool: LocalIssuer, token: str, token_use: TokenUse) -> str | None:
    """None when we accept `token`, else the code of our refusal."""
    verifier = TokenVerifier(pool.settings(token_use=token_use, token_cache_size=0))
    try:
        await verifier.verify(token)
    except TokenError as exc:
        return exc.code
    return None


def joserfc_accepts(pool: LocalIssuer, token: str, token_use: TokenUse) -> bool:
    """joserfc's decision under the policy of `pool.settings(token_use=token_use)`."""
    if token_use == "any":
        return joserfc_accepts(pool, token, "access") or joserfc_accepts(pool, token, "id")
    settings = pool.settings(token_use=token_use)
    leeway = int(settings.leeway_seconds)
    exp: ClaimsOption = {"essential": True}
    iss: ClaimsOption = {"essential": True, "values": list(settings.issuers)}
    kind: ClaimsOption = {"essential": True, "values": [str(token_use)]}
    client: ClaimsOption = {"essential": True, "values": list(settings.client_ids)}
    if token_use == "access":
        registry = JWTClaimsRegistry(
            leeway=leeway, exp=exp, iss=iss, token_use=kind, client_id=client
        )
    else:
        registry = JWTClaimsRegistry(leeway=leeway, exp=exp, iss=iss, token_use=kind, aud=client)
    key_set = KeySet.import_key_set(pool.jwks())  # type: ignore[arg-type]
    try:
        token_object = jwt.decode(token, key_set, algorithms=["RS256"])
        registry.validate(token_object.claims)
    except (JoseError, ValueError, TypeError, RecursionError):
        return False
    return True


# --- building tokens ------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_b64(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def signing_key(pool: LocalIssuer) -> RSAPrivateKey:
    key = pool.key.get_op_key("sign")
    assert isinstance(key, RSAPrivateKey)
    return key


def signed(
    pool: LocalIssuer,
    header_b64: str,
    payload_b64: str,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> str:
    """The two parts verbatim, with a valid RSA signature over them (RFC 7515 §5.1).

    The signature covers the parts as written, so whatever is odd about them is left for the
    parser to refuse.
    """
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    signature = signing_key(pool).sign(
        signing_input, padding.PKCS1v15(), hash_algorithm or hashes.SHA256()
    )
    return f"{header_b64}.{payload_b64}.{b64(signature)}"


def header(pool: LocalIssuer, **extra: Any) -> str:
    return json_b64({"kid": pool.kid, "alg": "RS256", **extra})


def claims(pool: LocalIssuer, **changes: Any) -> dict[str, Any]:
    """The claims of a fresh `pool.access_token()`, changed."""
    payload = pool.access_token().split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    result.update(changes)
    return {name: value for name, value in result.items() if value is not REMOVE}


def raw_payload(text: str) -> Callable[[LocalIssuer], str]:
    """A token with `text` as its payload, where {iss}, {client} and {exp} are filled in."""

    def make(pool: LocalIssuer) -> str:
        filled = (
            text.replace("{iss}", pool.issuer)
            .replace("{client}", pool.client_id)
            .replace("{exp}", str(NOW + HOUR))
        )
        return signed(pool, header(pool), b64(filled.encode()))

    return make


# The members of a valid access token, for payloads written by hand.
MEMBERS = '"sub":"s","iss":"{iss}","client_id":"{client}","token_use":"access","exp":{exp}'
MEMBERS_BUT_EXP = MEMBERS.replace(',"exp":{exp}', "")


def parts(token: str) -> list[str]:
    return token.split(".")


def non_canonical(part: str) -> str:
    """The same bytes spelled another way: a spare low bit of the last character set."""
    spare_bits = {2: 0b1111, 3: 0b11}[len(part) % 4]
    last = ALPHABET.index(part[-1])
    assert last & spare_bits == 0
    return part[:-1] + ALPHABET[last | 1]


def non_canonical_payload(pool: LocalIssuer) -> str:
    filler = ""
    while len(payload := json_b64(claims(pool, filler=filler))) % 4 == 0:
        filler += "x"  # only a partial last group has spare bits
    return signed(pool, header(pool), non_canonical(payload))


def non_canonical_signature(pool: LocalIssuer) -> str:
    # An RSA-2048 signature is 256 bytes: 342 characters, a last group of 2.
    head, payload, signature = parts(pool.access_token())
    return f"{head}.{payload}.{non_canonical(signature)}"


def padded_payload(pool: LocalIssuer) -> str:
    filler = ""
    while len(payload := json_b64(claims(pool, filler=filler))) % 4 == 0:
        filler += "x"
    return signed(pool, header(pool), payload + "=" * (-len(payload) % 4))


def flipped_signature(pool: LocalIssuer) -> str:
    head, payload, signature = parts(pool.access_token())
    changed = "B" if signature[9] == "A" else "A"
    return f"{head}.{payload}.{signature[:9]}{changed}{signature[10:]}"


def tampered_payload(pool: LocalIssuer) -> str:
    head, _, signature = parts(pool.access_token("alice"))
    return f"{head}.{json_b64(claims(pool, username='admin'))}.{signature}"


def other_key_same_kid(pool: LocalIssuer) -> str:
    impostor = RSAKey.generate_key(2048, parameters={"kid": pool.kid})
    return pool.sign(claims(pool), key=impostor)


def alg_none(pool: LocalIssuer) -> str:
    return f"{header(pool, alg='none')}.{json_b64(claims(pool))}."


def hs256_keyed_with_public_key(pool: LocalIssuer) -> str:
    # Key confusion: an HMAC keyed with the pool's public key, which anyone can fetch.
    public_pem = (
        signing_key(pool)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{header(pool, alg='HS256')}.{json_b64(claims(pool))}"
    mac = hmac.HMAC(public_pem, hashes.SHA256())
    mac.update(signing_input.encode())
    return f"{signing_input}.{b64(mac.finalize())}"


def es256(pool: LocalIssuer) -> str:
    signing_input = f"{header(pool, alg='ES256')}.{json_b64(claims(pool))}"
    der = ec.generate_private_key(ec.SECP256R1()).sign(
        signing_input.encode(), ec.ECDSA(hashes.SHA256())
    )
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


# --- the corpus -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    make: Callable[[LocalIssuer], str]
    token_use: TokenUse = "access"


def access(**changes: Any) -> Case:
    return Case(lambda pool: pool.access_token(**changes))


def with_header(**changes: Any) -> Case:
    return Case(lambda pool: signed(pool, header(pool, **changes), json_b64(claims(pool))))


# Both accept these.
BOTH_ACCEPT: dict[str, Case] = {
    "access token": access(),
    "id token": Case(lambda pool: pool.id_token(), token_use="id"),
    "id token, either kind accepted": Case(lambda pool: pool.id_token(), token_use="any"),
    "groups": access(groups=["admins", "staff"]),
    "newer issuer form": Case(
        lambda pool: pool.access_token(iss=pool.issuer.replace("cognito-idp", "issuer-cognito-idp"))
    ),
    "fractional exp": access(exp=NOW + HOUR + 0.5),
    "exp in the year 9999": access(exp=253402214400),
    "exp an integer beyond the float range": access(exp=10**400),
    "nbf and iat in the past": access(nbf=NOW - HOUR, iat=NOW - HOUR),
    "expired within the leeway": Case(lambda pool: pool.access_token(exp=int(time.time()) - 1)),
    "jku header, ignored": access(header={"jku": "https://attacker.example/jwks.json"}),
    "typ header": access(header={"typ": "JWT"}),
    "compact JSON": Case(raw_payload("{" + MEMBERS + "}")),
    "whitespace around the JSON": Case(raw_payload(' \n{ "a" : 1 ,' + MEMBERS + "}\n ")),
    "unknown claims of any type": access(extra={"nested": [1, None]}, flag=True),
}

# Both refuse these.
BOTH_REFUSE: dict[str, Case] = {
    "expired": access(exp=NOW - HOUR),
    "exp missing": access(exp=REMOVE),
    "exp a string": access(exp=str(NOW + HOUR)),
    "exp true": access(exp=True),
    "exp null": access(exp=None),
    "exp NaN": Case(raw_payload('{"exp":NaN,' + MEMBERS_BUT_EXP + "}")),
    "exp Infinity": Case(raw_payload('{"exp":Infinity,' + MEMBERS_BUT_EXP + "}")),
    "nbf in the future": access(nbf=NOW + HOUR),
    "nbf a string": access(nbf="0"),
    "nbf null": access(nbf=None),
    "iat in the future": access(iat=NOW + HOUR),
    "iat null": access(iat=None),
    "wrong issuer": access(iss="https://attacker.example"),
    "issuer of another region": Case(
        lambda pool: pool.access_token(iss=pool.issuer.replace("us-east-1.", "eu-west-1."))
    ),
    "issuer with a trailing slash": Case(lambda pool: pool.access_token(iss=pool.issuer + "/")),
    "issuer missing": access(iss=REMOVE),
    "other app client": access(client_id="otherclient"),
    "client_id missing": access(client_id=REMOVE),
    "id token of another app client": Case(
        lambda pool: pool.id_token(aud="otherclient"), token_use="id"
    ),
    "id token where access tokens are required": Case(lambda pool: pool.id_token()),
    "access token where id tokens are required": Case(
        lambda pool: pool.access_token(), token_use="id"
    ),
    "token_use missing": access(token_use=REMOVE),
    "token_use unknown": access(token_use="refresh"),
    "sub a number": access(sub=5),
    "jti a number": access(jti=5),
    "aud a number in an access token": access(aud=5),
    "bad signature": Case(flipped_signature),
    "signature of another key under a known kid": Case(other_key_same_kid),
    "unknown kid": access(header={"kid": "unknown"}),
    "kid a number": with_header(kid=7),
    "tampered payload": Case(tampered_payload),
    "alg none": Case(alg_none),
    "alg HS256 keyed with the public key": Case(hs256_keyed_with_public_key),
    "alg RS384, signed with the pool's key": Case(
        lambda pool: signed(
            pool, header(pool, alg="RS384"), json_b64(claims(pool)), hashes.SHA384()
        )
    ),
    "alg ES256": Case(es256),
    "alg in lower case": with_header(alg="rs256"),
    "crit naming an unknown extension": with_header(crit=["x-ext"], **{"x-ext": 1}),
    "non-canonical base64url payload": Case(non_canonical_payload),
    "non-canonical base64url signature": Case(non_canonical_signature),
    "padded payload": Case(padded_payload),
    "padded signature": Case(lambda pool: pool.access_token() + "=="),
    "line break inside the signature": Case(
        lambda pool: (token := pool.access_token())[:-40] + "\n" + token[-40:]
    ),
    "trailing space": Case(lambda pool: pool.access_token() + " "),
    "two parts": Case(lambda pool: ".".join(parts(pool.access_token())[:2])),
    "four parts": Case(lambda pool: pool.access_token() + ".AAAA"),
    "five parts": Case(lambda pool: pool.access_token() + ".AAAA.AAAA"),
    "empty signature": Case(lambda pool: ".".join([*parts(pool.access_token())[:2], ""])),
    "payload a JSON array": Case(raw_payload("[1,2]")),
    "payload not UTF-8": Case(lambda pool: signed(pool, header(pool), b64(b'{"sub":"\xff"}'))),
    "payload not JSON": Case(raw_payload("{" + MEMBERS)),
    "payload nested too deep": Case(
        raw_payload("{" + MEMBERS + ',"x":' + "[" * 5000 + "]" * 5000 + "}")
    ),
}

# We refuse these and joserfc accepts them: (case, code of our refusal, why we are stricter).
STRICTER: dict[str, tuple[Case, str, str]] = {
    "no kid": (
        access(header={"kid": REMOVE}),
        "unsupported_header",
        "Cognito always names its key, and aws-jwt-verify requires kid as well",
    ),
    "crit naming no extension": (
        access(header={"crit": []}),
        "unsupported_header",
        "RFC 7515 §4.1.11 forbids an empty crit, and we implement no extension at all",
    ),
    "crit naming b64": (
        with_header(crit=["b64"], b64=True),
        "unsupported_header",
        "Cognito never uses RFC 7797; fewer header forms, less to get wrong",
    ),
    "duplicate header parameter": (
        Case(
            lambda pool: signed(
                pool,
                b64(f'{{"alg":"RS256","kid":"{pool.kid}","alg":"RS256"}}'.encode()),
                json_b64(claims(pool)),
            )
        ),
        "malformed",
        "RFC 7515 §4: a header with duplicate names must be refused or the last taken; we refuse",
    ),
    "duplicate claim": (
        Case(raw_payload('{"client_id":"otherclient",' + MEMBERS + "}")),
        "malformed",
        "RFC 7519 §4 allows refusing or taking the last; parsers disagree, so we refuse",
    ),
    "duplicate claim spelled with an escape": (
        Case(raw_payload('{"\\u0065xp":1,' + MEMBERS + "}")),
        "malformed",
        "names are compared after unescaping, as any JSON parser reads them",
    ),
    "sub missing": (
        access(sub=REMOVE),
        "bad_claim",
        "Cognito always issues sub, and CognitoUser is keyed on it",
    ),
    "scope a list": (
        access(scope=["a", "b"]),
        "bad_claim",
        "claims keep Cognito's JSON types, so an application never meets a surprise type",
    ),
    "username a number": (
        access(username=7),
        "bad_claim",
        "claims keep Cognito's JSON types, so an application never meets a surprise type",
    ),
    "cognito:groups a string": (
        access(**{"cognito:groups": "admins"}),
        "bad_claim",
        "a string would read as a list of one-letter groups",
    ),
    "client_id a list holding the client": (
        Case(lambda pool: pool.access_token(client_id=[pool.client_id, "other"])),
        "bad_claim",
        "Cognito's client_id is one string; a list would name other clients too",
    ),
    "aud a list holding the client": (
        Case(lambda pool: pool.id_token(aud=[pool.client_id, "other"]), token_use="id"),
        "bad_claim",
        "Cognito's aud is one string; a list would name other audiences too",
    ),
    "aud a list in an access token": (
        access(aud=["x"]),
        "bad_claim",
        "Cognito's access tokens carry no aud; one that does keeps the id token's type",
    ),
    "token_use a list": (
        access(token_use=["access"]),
        "bad_claim",
        "token_use is one string in every Cognito token",
    ),
    "oversized token": (
        access(filler="x" * 16 * 1024),
        "malformed",
        "a size cap bounds the parsing an unauthenticated request can ask for",
    ),
}


@pytest.mark.parametrize("case", BOTH_ACCEPT.values(), ids=BOTH_ACCEPT)
async def test_both_accept(pool: LocalIssuer, case: Case) -> None:
    """We and joserfc both accept these well-formed tokens."""
    token = case.make(pool)
    assert joserfc_accepts(pool, token, case.token_use)
    assert await our_refusal(pool, token, case.token_use) is None


@pytest.mark.parametrize("case", BOTH_REFUSE.values(), ids=BOTH_REFUSE)
async def test_both_refuse(pool: LocalIssuer, case: Case) -> None:
    """We and joserfc both refuse these tokens."""
    token = case.make(pool)
    assert not joserfc_accepts(pool, token, case.token_use)
    assert await our_refusal(pool, token, case.token_use) is not None


@pytest.mark.parametrize(("case", "code", "reason"), STRICTER.values(), ids=STRICTER)
async def test_deliberately_stricter(pool: LocalIssuer, case: Case, code: str, reason: str) -> None:
    """We refuse these tokens, which joserfc accepts, for the reason given in the table."""
    assert reason
    token = case.make(pool)
    assert joserfc_accepts(pool, token, case.token_use)
    assert await our_refusal(pool, token, case.token_use) == code


KEEP: Any = object()  # leave the claim as minted

# Values for claims: well-formed, of every JSON type, and at the edges of the number line.
CLAIM_VALUES = st.one_of(
    st.just(KEEP),
    st.just(REMOVE),
    st.none(),
    st.booleans(),
    st.sampled_from([NOW - 2 * HOUR, NOW + 2 * HOUR, 0, -1, 2**53, 10**400, NOW + 0.5 + HOUR]),
    st.floats(),
    st.integers(),
    st.text(max_size=4),
    st.sampled_from(["access", "id", "localclient1"]),
    st.lists(st.sampled_from(["access", "id", "localclient1", ""]), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
CLAIM_NAMES = st.sampled_from(
    [
        "exp",
        "nbf",
        "iat",
        "iss",
        "token_use",
        "client_id",
        "aud",
        "sub",
        "scope",
        "username",
        "cognito:username",
        "jti",
        "email",
        "cognito:groups",
        "auth_time",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    changes=st.dictionaries(CLAIM_NAMES, CLAIM_VALUES, max_size=3),
    kind=st.sampled_from(["access", "id"]),
    token_use=st.sampled_from(["access", "id", "any"]),
)
async def test_never_more_permissive_on_random_claims(
    pool: LocalIssuer, changes: dict[str, Any], kind: str, token_use: TokenUse
) -> None:
    """Validly signed tokens with random claim values: we never accept what joserfc refuses."""
    mint = pool.access_token if kind == "access" else pool.id_token
    token = mint(**{name: value for name, value in changes.items() if value is not KEEP})
    ours = await our_refusal(pool, token, token_use)  # a refusal, never an exception
    if ours is None:
        assert joserfc_accepts(pool, token, token_use)


EDIT_CHARACTERS = st.sampled_from([*ALPHABET, "=", ".", "+", "/", " ", "\n", "%", "é"])


@settings(max_examples=100, deadline=None)
@given(data=st.data())
async def test_never_more_permissive_on_edited_tokens(
    pool: LocalIssuer, data: st.DataObject
) -> None:
    """A valid token with characters replaced, inserted or removed: we never accept what
    joserfc refuses."""
    token = pool.access_token()
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        index = data.draw(st.integers(0, len(token) - 1), label="index")
        edit = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="edit")
        character = data.draw(EDIT_CHARACTERS, label="character")
        if edit == "replace":
            token = token[:index] + character + token[index + 1 :]
        elif edit == "insert":
            token = token[:index] + character + token[index:]
        else:
            token = token[:index] + token[index + 1 :]
    if await our_refusal(pool, token, "access") is None:
        assert joserfc_accepts(pool, token, "access")
