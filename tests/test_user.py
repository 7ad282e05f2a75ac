"""CognitoUser: built from verified claims, with the application's record attached."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

import pytest

from cognito_asgi import CognitoUser

ACCESS = {
    "sub": "5f2c6b1e",
    "token_use": "access",
    "client_id": "client",
    "username": "ann",
    "cognito:groups": ["admins", "staff"],
    "scope": "api/read api/write",
}
ID = {
    "sub": "5f2c6b1e",
    "token_use": "id",
    "aud": "client",
    "cognito:username": "ann",
    "email": "ann@example.com",
}


def fields_of(user: CognitoUser) -> dict[str, Any]:
    return {f.name: getattr(user, f.name) for f in dataclasses.fields(user)}


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (ACCESS, ("ann", "client", ("admins", "staff"), ("api/read", "api/write"), None)),
        (ID, ("ann", "client", (), (), "ann@example.com")),
        (
            {**ACCESS, "username": None},
            ("5f2c6b1e", "client", ("admins", "staff"), ("api/read", "api/write"), None),
        ),
    ],
    ids=["access", "id", "no-username"],
)
def test_from_claims_sets_every_field_as_the_constructor_does(
    claims: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """from_claims sets its slots itself; the user is the one CognitoUser(...) makes."""
    username, client_id, groups, scopes, email = expected
    frozen = MappingProxyType(claims)
    user = CognitoUser.from_claims(frozen, record={"id": 7})
    made = CognitoUser(
        username,
        "5f2c6b1e",
        claims["token_use"],
        client_id,
        groups,
        scopes,
        email,
        frozen,
        {"id": 7},
    )
    assert type(user) is CognitoUser
    assert fields_of(user) == fields_of(made)


def test_with_record_copies_every_other_field() -> None:
    user = CognitoUser.from_claims(MappingProxyType(ACCESS))
    loaded = user.with_record({"plan": "pro"})
    assert loaded is not user
    assert user.record is None
    assert fields_of(loaded) == {**fields_of(user), "record": {"plan": "pro"}}


def test_a_built_user_is_still_frozen() -> None:
    user = CognitoUser.from_claims(MappingProxyType(ACCESS)).with_record(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.username = "eve"  # type: ignore[misc]


def test_a_subclass_is_built_by_its_own_init() -> None:
    """A subclass may add fields and checks; from_claims and with_record go through them."""
    checked: list[str] = []

    @dataclasses.dataclass(frozen=True, slots=True, eq=False)
    class Member(CognitoUser):
        plan: str = "free"

        def __post_init__(self) -> None:
            checked.append(self.username)

    member = Member.from_claims(MappingProxyType(ACCESS))
    assert type(member) is Member
    assert member.plan == "free"
    loaded = member.with_record("row")
    assert type(loaded) is Member
    assert (loaded.record, loaded.plan) == ("row", "free")
    assert checked == ["ann", "ann"]
