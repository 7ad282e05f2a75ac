"""The account creation flow, with every step undone when a later one fails.

    1. insert our record, state `pending`, with a fresh uuid4 id
    2. AdminCreateUser(Username=id, MessageAction=SUPPRESS, TemporaryPassword=password, ...)
    3. make the password permanent:
       `challenge`:    AdminInitiateAuth(ADMIN_USER_PASSWORD_AUTH) -> NEW_PASSWORD_REQUIRED
                       -> AdminRespondToAuthChallenge(NEW_PASSWORD=password), which yields tokens
       `set_password`: AdminSetUserPassword(Permanent=True)
    4. mark the record `active`

A failure after step 1 deletes the Cognito user (when any attempt at step 2 may have reached
Cognito) and then the record. If the Cognito user cannot be deleted, the record is kept `pending`
so that `cognito-asgi accounts reconcile` finds and resolves it: the record is always deleted last.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from cognito_asgi._settings import PasswordFlow

from ._cognito import CallFailed, CognitoAdmin
from ._errors import AccountExistsError, AccountsError, ProvisioningError
from ._store import UserRecord, UserStore

__all__ = ["Provisioner", "SignUp"]

logger = logging.getLogger("cognito_asgi.accounts")

_AUTH_FLOW = "ADMIN_USER_PASSWORD_AUTH"
# The name of the same flow before 2019; kept by AWS, and by app clients configured back then.
_LEGACY_AUTH_FLOW = "ADMIN_NO_SRP_AUTH"


@dataclass(frozen=True, slots=True)
class SignUp:
    record: UserRecord
    tokens: Mapping[str, Any] | None = None


class Provisioner:
    def __init__(
        self,
        store: UserStore,
        admin: CognitoAdmin,
        *,
        password_flow: PasswordFlow,
        clock: Callable[[], datetime] | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.admin = admin
        self.password_flow = password_flow
        self.clock = clock or _utc_now
        self.id_factory = id_factory or _new_id
        self._auth_flow = _AUTH_FLOW

    async def sign_up(self, *, name: str, email: str, password: str) -> SignUp:
        """Run the whole flow; raise an `AccountsError` after undoing what was done."""
        record = UserRecord(
            id=self.id_factory(), name=name, email=email, created_at=self.clock(), state="pending"
        )
        # Shielded: a request cancelled half-way must still finish or undo its steps.
        with anyio.CancelScope(shield=True):
            await self.store.insert_pending(record)
            signed_up = await self._provision(record, password)
        # Returned outside: a cancel scope may swallow exceptions, so mypy wants a return here.
        return signed_up  # noqa: RET504

    async def _provision(self, record: UserRecord, password: str) -> SignUp:
        maybe_created = False
        step = "AdminCreateUser"
        try:
            try:
                await self.admin.call(
                    "admin_create_user",
                    secrets=(password,),
                    UserPoolId=self.admin.pool_id,
                    Username=record.id,
                    MessageAction="SUPPRESS",
                    TemporaryPassword=password,
                    UserAttributes=[
                        {"Name": "email", "Value": record.email},
                        {"Name": "email_verified", "Value": "true"},
                        {"Name": "name", "Value": record.name},
                    ],
                )
                maybe_created = True
            except CallFailed as failed:
                # A UsernameExistsException is about someone else's user, unless an earlier
                # attempt of ours created it and its answer was lost: maybe_applied says which.
                maybe_created = failed.maybe_applied
                raise
            step = "making the password permanent"
            tokens = await self._make_permanent(record, password)
            step = "activating the record"
            if not await self.store.activate(record.id):
                raise ProvisioningError(
                    f"the pending record {record.id} disappeared before it could be activated "
                    "(was `cognito-asgi accounts reconcile` run with a too short --older-than?)"
                )
        except Exception as exc:
            error = self._error_of(exc, record)
            self._log_failure(record, step, error)
            await self._undo(record, maybe_created)
            raise error from None
        logger.info("created user %s (%s flow)", record.id, self.password_flow)
        return SignUp(dataclasses.replace(record, state="active"), tokens)

    async def _make_permanent(self, record: UserRecord, password: str) -> Mapping[str, Any] | None:
        admin = self.admin
        if self.password_flow == "set_password":
            await admin.call(
                "admin_set_user_password",
                secrets=(password,),
                UserPoolId=admin.pool_id,
                Username=record.id,
                Password=password,
                Permanent=True,
            )
            return None
        secret = admin.secret_parameters(record.id)
        started = await self._initiate_auth(
            {"USERNAME": record.id, "PASSWORD": password, **secret}, password
        )
        if "AuthenticationResult" in started:
            return _tokens(started["AuthenticationResult"])
        challenge = started.get("ChallengeName")
        if challenge != "NEW_PASSWORD_REQUIRED":
            raise ProvisioningError(
                f"AdminInitiateAuth answered with the challenge {challenge!r} instead of "
                f"NEW_PASSWORD_REQUIRED: user pool {admin.pool_id} asks for more than a password "
                "at sign-in (MFA?); set COGNITO_ACCOUNTS_PASSWORD_FLOW=set_password",
                setting="COGNITO_ACCOUNTS_PASSWORD_FLOW",
            )
        session = started["Session"]
        answered = await admin.call(
            "admin_respond_to_auth_challenge",
            secrets=(password, session),
            UserPoolId=admin.pool_id,
            ClientId=admin.client_id,
            ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=session,
            ChallengeResponses={"USERNAME": record.id, "NEW_PASSWORD": password, **secret},
        )
        if "AuthenticationResult" in answered:
            return _tokens(answered["AuthenticationResult"])
        # A further challenge (MFA_SETUP): the password is permanent once the user is CONFIRMED.
        user = await admin.call("admin_get_user", UserPoolId=admin.pool_id, Username=record.id)
        if user.get("UserStatus") != "CONFIRMED":
            raise ProvisioningError(
                f"after NEW_PASSWORD_REQUIRED, Cognito asked for {answered.get('ChallengeName')!r} "
                f"and user {record.id} is {user.get('UserStatus')!r}: user pool {admin.pool_id} "
                "needs more than a password; set COGNITO_ACCOUNTS_PASSWORD_FLOW=set_password",
                setting="COGNITO_ACCOUNTS_PASSWORD_FLOW",
            )
        return None

    async def _initiate_auth(self, parameters: dict[str, str], password: str) -> Any:
        flow = self._auth_flow
        try:
            return await self._admin_initiate_auth(flow, parameters, password)
        except CallFailed as failed:
            if failed.code != "InvalidParameterException" or flow == _LEGACY_AUTH_FLOW:
                raise
            first = failed
        # The client may predate the flow's current name: accept the legacy one.
        try:
            started = await self._admin_initiate_auth(_LEGACY_AUTH_FLOW, parameters, password)
        except CallFailed as failed:
            raise (first if failed.code == "InvalidParameterException" else failed) from None
        logger.info(
            "app client %s accepts only the legacy name %s; using it from now on",
            self.admin.client_id,
            _LEGACY_AUTH_FLOW,
        )
        self._auth_flow = _LEGACY_AUTH_FLOW
        return started

    async def _admin_initiate_auth(
        self, flow: str, parameters: dict[str, str], password: str
    ) -> Any:
        admin = self.admin
        return await admin.call(
            "admin_initiate_auth",
            secrets=(password,),
            UserPoolId=admin.pool_id,
            ClientId=admin.client_id,
            AuthFlow=flow,
            AuthParameters=parameters,
        )

    def _error_of(self, exc: Exception, record: UserRecord) -> AccountsError:
        if isinstance(exc, CallFailed):
            if exc.code in ("UsernameExistsException", "AliasExistsException"):
                return AccountExistsError("an account with these details already exists")
            return exc.error
        if isinstance(exc, AccountsError):
            return exc
        detail = getattr(exc, "orig", None) or exc
        return ProvisioningError(
            f"unexpected {type(exc).__name__} while provisioning user {record.id}: {detail}"
        )

    def _log_failure(self, record: UserRecord, step: str, error: AccountsError) -> None:
        if isinstance(error, ProvisioningError):
            logger.error("sign-up of user %s failed at %s: %s", record.id, step, error.message)
        else:
            logger.warning("sign-up of user %s failed at %s: %s", record.id, step, error.message)

    async def _undo(self, record: UserRecord, maybe_created: bool) -> None:
        if maybe_created:
            try:
                await self.admin.call(
                    "admin_delete_user", UserPoolId=self.admin.pool_id, Username=record.id
                )
            except CallFailed as failed:
                # ResourceNotFoundException: the pool itself does not exist, nor any user in it.
                if failed.code not in ("UserNotFoundException", "ResourceNotFoundException"):
                    logger.error(
                        "could not delete Cognito user %s after its failed sign-up (%s); its "
                        "record stays pending for `cognito-asgi accounts reconcile`",
                        record.id,
                        failed.error.message,
                    )
                    return
        try:
            await self.store.delete(record.id)
        except Exception as exc:
            logger.error(
                "could not delete the pending record %s after its failed sign-up (%s); "
                "`cognito-asgi accounts reconcile` will remove it",
                record.id,
                type(exc).__name__,
            )


def _tokens(result: Mapping[str, Any]) -> dict[str, Any]:
    tokens = {
        "access_token": result.get("AccessToken"),
        "id_token": result.get("IdToken"),
        "refresh_token": result.get("RefreshToken"),
        "expires_in": result.get("ExpiresIn"),
        "token_type": result.get("TokenType", "Bearer"),
    }
    return {key: value for key, value in tokens.items() if value is not None}


def _new_id() -> str:
    return str(uuid.uuid4())


def _utc_now() -> datetime:
    return datetime.now(UTC)
