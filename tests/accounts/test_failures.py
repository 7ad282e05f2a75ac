"""Nothing half-created: every step of the sign-up fails in turn, and afterwards neither Cognito
nor the database holds anything of the attempt. Cognito's errors come from the emulator where it
produces them, from botocore event hooks where it cannot."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from moto.server import ThreadedMotoServer

from cognito_asgi.accounts import SQLUserStore, UserStore, reconcile
from tests.accounts.conftest import (
    AppFactory,
    client_of,
    cognito_client,
    run_async_in_thread,
    settings_for,
)
from tests.accounts.faults import fail_after, fail_before
from tests.conftest import CognitoPool

PASSWORD = "Correct-Horse-7-Battery"
EMAIL = "ada@example.com"
SIGN_UP = {"name": "Ada", "email": EMAIL, "password": PASSWORD}
LATER = datetime.now(UTC) + timedelta(days=365)


def usernames(cognito: CognitoPool) -> list[str]:
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    return sorted(user["Username"] for user in users)


async def assert_nothing_left(
    cognito: CognitoPool, store: UserStore, *, others: tuple[str, ...] = ()
) -> None:
    """Neither a Cognito user (besides `others`) nor a record remains of the sign-up."""
    assert usernames(cognito) == sorted(others)
    assert await store.get_by_email(EMAIL) is None
    assert await store.list_pending(LATER) == []


async def post(app: Any, body: dict[str, str] | None = None) -> httpx.Response:
    async with client_of(app) as client:
        return await client.post("/", json=body or SIGN_UP)


def accounts_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "cognito_asgi.accounts")


def endpoint_error() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


INVALID_FLOW = ("InvalidParameterException", "Auth flow not enabled for this client")

# (flow, operation, fault, expected status, expected error code, words the log must hold)
HOOKED = [
    pytest.param(
        "challenge",
        "AdminCreateUser",
        {"error": ("TooManyRequestsException", "Too many")},
        503,
        "cognito_unavailable",
        ["throttled", "AdminCreateUser"],
        id="throttled-create",
    ),
    pytest.param(
        "challenge",
        "AdminInitiateAuth",
        {"error": ("LimitExceededException", "Limit")},
        503,
        "cognito_unavailable",
        ["throttled", "AdminInitiateAuth"],
        id="limit-initiate",
    ),
    pytest.param(
        "challenge",
        "AdminRespondToAuthChallenge",
        {"error": ("TooManyRequestsException", "Too many")},
        503,
        "cognito_unavailable",
        ["throttled"],
        id="throttled-respond",
    ),
    pytest.param(
        "set_password",
        "AdminSetUserPassword",
        {"error": ("TooManyRequestsException", "Slow")},
        503,
        "cognito_unavailable",
        ["throttled", "AdminSetUserPassword"],
        id="throttled-set",
    ),
    pytest.param(
        "challenge",
        "AdminCreateUser",
        {"raise_": EndpointConnectionError(endpoint_url="x")},
        503,
        "cognito_unavailable",
        ["could not be reached"],
        id="unreachable-create",
    ),
    pytest.param(
        "challenge",
        "AdminInitiateAuth",
        {"raise_": ReadTimeoutError(endpoint_url="x")},
        503,
        "cognito_unavailable",
        ["ReadTimeoutError"],
        id="timeout-initiate",
    ),
    pytest.param(
        "challenge",
        "AdminRespondToAuthChallenge",
        {"raise_": EndpointConnectionError(endpoint_url="x")},
        503,
        "cognito_unavailable",
        ["EndpointConnectionError"],
        id="unreachable-respond",
    ),
    pytest.param(
        "set_password",
        "AdminSetUserPassword",
        {"raise_": ConnectTimeoutError(endpoint_url="x")},
        503,
        "cognito_unavailable",
        ["ConnectTimeoutError"],
        id="connect-timeout-set",
    ),
    pytest.param(
        "challenge",
        "AdminInitiateAuth",
        {"error": INVALID_FLOW},
        500,
        "server_error",
        ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "COGNITO_CLIENT_ID"],
        id="client-lacks-admin-auth-flow",
    ),
    pytest.param(
        "challenge",
        "AdminRespondToAuthChallenge",
        {"error": ("NotAuthorizedException", "Unable to verify secret hash for client")},
        500,
        "server_error",
        ["COGNITO_CLIENT_SECRET"],
        id="wrong-client-secret",
    ),
    pytest.param(
        "challenge",
        "AdminCreateUser",
        {"error": ("AccessDeniedException", "not authorized")},
        500,
        "server_error",
        ["AWS credentials", "cognito-idp:AdminCreateUser"],
        id="credentials-denied",
    ),
    pytest.param(
        "set_password",
        "AdminSetUserPassword",
        {"error": ("InvalidParameterException", "Invalid attributes")},
        500,
        "server_error",
        ["COGNITO_USER_POOL_ID"],
        id="invalid-parameter-set",
    ),
    pytest.param(
        "challenge",
        "AdminCreateUser",
        {"error": ("AliasExistsException", "alias exists")},
        409,
        "account_exists",
        [],
        id="alias-exists",
    ),
    pytest.param(
        "challenge",
        "AdminInitiateAuth",
        {"respond": {"ChallengeName": "SMS_MFA", "Session": "s" * 32, "ChallengeParameters": {}}},
        500,
        "server_error",
        ["SMS_MFA", "COGNITO_ACCOUNTS_PASSWORD_FLOW"],
        id="mfa-challenge",
    ),
    pytest.param(
        "challenge",
        "AdminInitiateAuth",
        {"raise_": RuntimeError("boom")},
        500,
        "server_error",
        ["unexpectedly", "RuntimeError"],
        id="unexpected-exception",
    ),
    pytest.param(
        "challenge",
        "AdminCreateUser",
        {"error": ("InternalErrorException", "oops")},
        503,
        "cognito_unavailable",
        ["InternalErrorException"],
        id="cognito-internal-error",
    ),
]


@pytest.mark.parametrize(("flow", "operation", "fault", "status", "code", "log"), HOOKED)
async def test_a_failing_cognito_step_is_undone(
    cognito: CognitoPool,
    make_app: AppFactory,
    caplog: pytest.LogCaptureFixture,
    flow: str,
    operation: str,
    fault: dict[str, Any],
    status: int,
    code: str,
    log: list[str],
) -> None:
    """A Cognito step that fails answers with its status (503 with Retry-After, 409, or a 500
    with a generic body whose log line names what to fix), and the user and record are gone."""
    caplog.set_level(logging.INFO, "cognito_asgi.accounts")
    client = cognito_client(cognito.endpoint)
    fail_before(client, operation, **fault)
    accounts = make_app(cognito_client=client, accounts_password_flow=flow)
    response = await post(accounts)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    if status == 503:
        assert int(response.headers["retry-after"]) > 0
    if status == 500:
        assert response.json() == {
            "error": "server_error",
            "error_description": "the request could not be completed",
        }
    for word in log:
        assert word in accounts_log(caplog)
    assert PASSWORD not in response.text
    await assert_nothing_left(cognito, accounts.store)


@pytest.mark.parametrize(
    ("flow", "failing_step"),
    [
        pytest.param("challenge", "AdminRespondToAuthChallenge", id="challenge"),
        pytest.param("set_password", "AdminSetUserPassword", id="set_password"),
    ],
)
async def test_a_weak_password_gets_cognitos_policy_message(
    cognito: CognitoPool, make_app: AppFactory, flow: str, failing_step: str
) -> None:
    """The emulator refuses a weak password when it becomes permanent: 422 with Cognito's own
    message, and the user it had created is deleted with the record."""
    client = cognito_client(cognito.endpoint)
    calls: list[str] = []
    client.meta.events.register(
        "before-call.cognito-idp", lambda model, **_: calls.append(model.name)
    )
    accounts = make_app(cognito_client=client, accounts_password_flow=flow)
    response = await post(accounts, {**SIGN_UP, "password": "weakpassword"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_password"
    policy = "The provided password does not confirm to the configured password policy"
    assert body["error_description"] == policy
    assert body["fields"] == {"password": policy}
    assert "weakpassword" not in response.text
    assert calls[0] == "AdminCreateUser"
    assert failing_step in calls
    assert calls[-1] == "AdminDeleteUser"
    await assert_nothing_left(cognito, accounts.store)


async def test_a_lost_answer_to_admin_create_user_still_deletes_the_user(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """AdminCreateUser reaches Cognito but its answer is lost (read timeout): the user may exist,
    so the undo deletes it: 503, and nothing remains."""
    client = cognito_client(cognito.endpoint)
    fail_after(client, "AdminCreateUser", ReadTimeoutError(endpoint_url=cognito.endpoint))
    accounts = make_app(cognito_client=client)
    response = await post(accounts)
    assert response.status_code == 503
    await assert_nothing_left(cognito, accounts.store)


async def test_a_retried_create_that_finds_its_own_user_deletes_it(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """The first attempt of AdminCreateUser is carried out but retried (as after a lost answer):
    the retry's UsernameExistsException is about our own user, which the undo deletes."""
    client = cognito_client(cognito.endpoint)
    attempts: list[int] = []

    def retry_once(attempts_: int = 0, **_: Any) -> float | None:
        attempts.append(attempts_)
        return 0 if attempts_ == 1 else None

    client.meta.events.register_first(
        "needs-retry.cognito-idp.AdminCreateUser",
        lambda attempts, **kwargs: retry_once(attempts, **kwargs),
    )
    accounts = make_app(cognito_client=client)
    response = await post(accounts)
    assert response.status_code == 409
    assert response.json()["error"] == "account_exists"
    assert attempts[:2] == [1, 2]
    await assert_nothing_left(cognito, accounts.store)


async def test_someone_elses_user_with_the_same_username_is_left_alone(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """The emulator's UsernameExistsException for a user that is not ours: 409, our record is
    removed, and the existing user is not touched."""
    cognito.create_user("taken-id", PASSWORD, email="other@example.com")
    accounts = make_app(id_factory=lambda: "taken-id")
    response = await post(accounts)
    assert response.status_code == 409
    assert response.json()["error"] == "account_exists"
    await assert_nothing_left(cognito, accounts.store, others=("taken-id",))
    user = cognito.client.admin_get_user(UserPoolId=cognito.user_pool_id, Username="taken-id")
    assert user["UserStatus"] == "CONFIRMED"


async def test_a_missing_user_pool_is_a_logged_500(
    cognito: CognitoPool, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A pool id the emulator does not know: 500 with a generic body, the log names
    COGNITO_USER_POOL_ID and its value, and no record remains."""
    caplog.set_level(logging.INFO, "cognito_asgi.accounts")
    accounts = make_app(user_pool_id="us-east-1_Missing")
    response = await post(accounts)
    assert response.status_code == 500
    assert "Missing" not in response.text
    assert "COGNITO_USER_POOL_ID=us-east-1_Missing" in accounts_log(caplog)
    await assert_nothing_left(cognito, accounts.store)


async def test_a_client_of_another_pool_is_a_logged_500(
    cognito: CognitoPool, make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A client id the pool does not have: AdminCreateUser succeeds, AdminInitiateAuth fails
    in the emulator; 500, the log names the client id, and the created user is deleted."""
    caplog.set_level(logging.INFO, "cognito_asgi.accounts")
    accounts = make_app(client_ids=("nosuchclient",))
    response = await post(accounts)
    assert response.status_code == 500
    assert "COGNITO_CLIENT_ID=nosuchclient" in accounts_log(caplog)
    await assert_nothing_left(cognito, accounts.store)


async def test_the_legacy_auth_flow_name_is_accepted(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """A client that refuses ADMIN_USER_PASSWORD_AUTH but takes the legacy ADMIN_NO_SRP_AUTH:
    the sign-up succeeds, and later sign-ups use the legacy name directly."""
    client = cognito_client(cognito.endpoint)
    seen = fail_before(
        client,
        "AdminInitiateAuth",
        error=INVALID_FLOW,
        when=lambda params: params["AuthFlow"] == "ADMIN_USER_PASSWORD_AUTH",
    )
    accounts = make_app(cognito_client=client)
    assert (await post(accounts)).status_code == 201
    assert (await post(accounts, {**SIGN_UP, "email": "b@example.com"})).status_code == 201
    assert [params["AuthFlow"] for params in seen] == [
        "ADMIN_USER_PASSWORD_AUTH",
        "ADMIN_NO_SRP_AUTH",
        "ADMIN_NO_SRP_AUTH",
    ]


@pytest.fixture
def second_emulator() -> Iterator[ThreadedMotoServer]:
    """Another front end to the same in-process emulator state, which a test may stop."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            ThreadedMotoServer.stop(server)

    server.stop = stop  # type: ignore[method-assign]
    yield server
    server.stop()


def endpoint_of(server: ThreadedMotoServer) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


async def test_a_stopped_emulator_gets_503_and_leaves_nothing(
    cognito: CognitoPool, make_app: AppFactory, second_emulator: ThreadedMotoServer
) -> None:
    """Cognito cannot be reached at all: 503 with Retry-After; as no attempt connected, no user
    can exist, and the record is removed."""
    endpoint = endpoint_of(second_emulator)
    second_emulator.stop()
    accounts = make_app(cognito_client=cognito_client(endpoint, attempts=2))
    response = await post(accounts)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    await assert_nothing_left(cognito, accounts.store)


async def test_an_emulator_lost_mid_flow_leaves_a_pending_record_for_reconcile(
    cognito: CognitoPool, make_app: AppFactory, second_emulator: ThreadedMotoServer
) -> None:
    """Cognito goes away after AdminCreateUser: the undo cannot delete the user, so the record
    stays pending (nothing is lost), and reconcile later deletes both."""
    client = cognito_client(endpoint_of(second_emulator), attempts=1)
    client.meta.events.register(
        "after-call.cognito-idp.AdminCreateUser", lambda **_: second_emulator.stop()
    )
    accounts = make_app(cognito_client=client)
    response = await post(accounts)
    assert response.status_code == 503
    [pending] = await accounts.store.list_pending(LATER)
    assert pending.email == EMAIL
    assert usernames(cognito) == [pending.id]

    report = await reconcile(
        accounts.store,
        settings_for(cognito),
        cognito_client=cognito_client(cognito.endpoint),
        older_than=0,
    )
    assert report.undone == [pending.id]
    await assert_nothing_left(cognito, accounts.store)


def _refuse_activation_sqlite(url: str) -> None:
    path = url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_activation BEFORE UPDATE OF state ON cognito_asgi_users "
            "WHEN NEW.state = 'active' BEGIN SELECT RAISE(ABORT, 'activation refused'); END"
        )
    conn.close()


async def _refuse_activation_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(
            "CREATE FUNCTION refuse_activation() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'activation refused'; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER refuse_activation BEFORE UPDATE ON cognito_asgi_users FOR EACH ROW "
            "WHEN (NEW.state = 'active') EXECUTE FUNCTION refuse_activation()"
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("flow", ["challenge", "set_password"])
async def test_a_database_that_fails_the_final_update_undoes_everything(
    cognito: CognitoPool,
    make_app: AppFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    flow: str,
) -> None:
    """The database refuses to mark the record active (a trigger raises): 500, the Cognito user
    that was already confirmed is deleted, and the record is removed."""
    caplog.set_level(logging.INFO, "cognito_asgi.accounts")
    store = SQLUserStore(database_url)
    assert await store.get("nobody") is None  # creates the table
    if database_url.startswith("sqlite"):
        _refuse_activation_sqlite(database_url)
    else:
        run_async_in_thread(lambda: _refuse_activation_postgres(database_url))
    accounts = make_app(store=store, accounts_password_flow=flow)
    response = await post(accounts)
    assert response.status_code == 500, response.text
    assert "activating the record" in accounts_log(caplog)
    await assert_nothing_left(cognito, store)


async def test_a_store_that_cannot_be_reached_gets_503(
    cognito: CognitoPool, make_app: AppFactory, tmp_path: Any
) -> None:
    """A SQLite file that cannot be opened: 503 with Retry-After before Cognito is called."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}"
    accounts = make_app(store=SQLUserStore(url))
    response = await post(accounts)
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert response.headers["retry-after"] == "5"
    assert usernames(cognito) == []
