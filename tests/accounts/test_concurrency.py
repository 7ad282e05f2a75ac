"""Concurrent sign-ups with one email: exactly one wins, on each backend."""

from __future__ import annotations

import asyncio

import pytest

from cognito_asgi.accounts import SQLUserStore
from tests.accounts.conftest import AppFactory, client_of
from tests.conftest import CognitoPool

PASSWORD = "Correct-Horse-7-Battery"


@pytest.mark.parametrize("flow", ["challenge", "set_password"])
async def test_one_of_ten_concurrent_sign_ups_with_one_email_wins(
    cognito: CognitoPool, database_url: str, make_app: AppFactory, flow: str
) -> None:
    """Ten sign-ups at once with one email (in varying case): exactly one 201, nine 409
    email_taken, one active record, and Cognito holds exactly one user with that email."""
    store = SQLUserStore(database_url)
    accounts = make_app(store=store, accounts_password_flow=flow)
    emails = [f"{'SAME' if i % 2 else 'same'}@Example.com" for i in range(10)]
    async with client_of(accounts) as client:
        responses = await asyncio.gather(
            *(
                client.post("/", json={"name": f"n{i}", "email": email, "password": PASSWORD})
                for i, email in enumerate(emails)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"email_taken"}
    [winner] = [r.json() for r in responses if r.status_code == 201]
    record = await store.get_by_email("same@example.com")
    assert record is not None
    assert (record.id, record.state) == (winner["id"], "active")
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    assert [u["Username"] for u in users] == [winner["id"]]
