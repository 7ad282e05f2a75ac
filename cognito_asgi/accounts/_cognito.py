from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from cognito_asgi._settings import CognitoSettings

from ._errors import (
    AccountsError,
    CognitoUnavailableError,
    InvalidPasswordError,
    ProvisioningError,
)
from ._redact import redacting

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["CallFailed", "CognitoAdmin", "build_client", "secret_hash"]

# Cognito's throttling errors; botocore's standard retry mode has retried them already.
_THROTTLED = frozenset(
    {"TooManyRequestsException", "LimitExceededException", "ThrottlingException"}
)
_SERVER_SIDE = frozenset(
    {"InternalErrorException", "InternalServerException", "ServiceUnavailable"}
)
_CREDENTIALS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
    }
)


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Cognito's SECRET_HASH: base64 of HMAC-SHA256(key=client secret, username + client id)."""
    digest = hmac.new(
        client_secret.encode(), (username + client_id).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def build_client(settings: CognitoSettings) -> CognitoIdentityProviderClient:
    """A cognito-idp client for the pool's region (and emulator endpoint), with explicit
    timeouts and botocore's standard retry mode, which backs off on throttling."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=15,
        user_agent_extra="cognito-asgi",
    )
    session = boto3.session.Session()
    return session.client(
        "cognito-idp",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=config,
    )


class CallFailed(Exception):
    """A Cognito call failed: `error` is what the caller is told, `code` Cognito's error code.

    `attempts` says, for each attempt botocore made (retries included), whether it may have
    reached Cognito and so may have been carried out: an attempt that could not connect was not;
    one that got an answer, timed out reading or lost its connection may have been.
    """

    def __init__(
        self,
        error: AccountsError,
        *,
        code: str | None,
        refused: bool,
        attempts: tuple[bool, ...],
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.code = code
        self.refused = refused
        self.attempts = attempts

    @property
    def maybe_applied(self) -> bool:
        """Whether the call may have been carried out despite the failure.

        A final 4xx answer (`refused`) means that attempt was not, so only earlier attempts
        count; otherwise (a timeout, a 5xx) the last one counts too.
        """
        return any(self.attempts[:-1] if self.refused else self.attempts)


class _Attempts(threading.local):
    log: list[bool] | None = None


_attempts = _Attempts()


def _note_attempt(caught_exception: BaseException | None = None, **_: Any) -> None:
    # botocore emits needs-retry after every attempt, in the calling thread.
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    log = _attempts.log
    if log is not None:
        log.append(not isinstance(caught_exception, EndpointConnectionError | ConnectTimeoutError))


class CognitoAdmin:
    """The Cognito admin calls of the accounts subsystem, each run in a worker thread with
    botocore's debug logs redacted and every failure classified into an `AccountsError`."""

    def __init__(
        self,
        settings: CognitoSettings,
        client: CognitoIdentityProviderClient | None = None,
    ) -> None:
        self.settings = settings
        self.pool_id = settings.user_pool_id
        self.client_id = settings.client_ids[0]
        self._client = client
        self._owns_client = client is None
        self._lock = anyio.Lock()
        self._hooked: object = None

    def secret_parameters(self, username: str) -> dict[str, str]:
        secret = self.settings.client_secret
        if not secret:
            return {}
        return {"SECRET_HASH": secret_hash(username, self.client_id, secret)}

    async def client(self) -> CognitoIdentityProviderClient:
        client = self._client
        if client is None or client is not self._hooked:
            async with self._lock:
                if self._client is None:
                    # Building a client reads botocore's service models from disk.
                    self._client = await anyio.to_thread.run_sync(build_client, self.settings)
                client = self._client
                if client is not self._hooked:
                    client.meta.events.register(
                        "needs-retry.cognito-idp", _note_attempt, unique_id="cognito-asgi-delivery"
                    )
                    self._hooked = client
        return client

    async def aclose(self) -> None:
        """Close the client if this object built it; a later call builds a new one."""
        client = self._client
        if self._owns_client and client is not None:
            self._client = None
            await anyio.to_thread.run_sync(client.close)

    async def call(self, operation: str, *, secrets: Iterable[str] = (), **params: Any) -> Any:
        """Call `operation` (the boto3 method name); raise `CallFailed` on any failure."""
        client = await self.client()
        method = getattr(client, operation)
        secrets = tuple(secrets)
        return await anyio.to_thread.run_sync(
            functools.partial(self._call_in_thread, operation, method, secrets, params)
        )

    def _call_in_thread(
        self, operation: str, method: Any, secrets: tuple[str, ...], params: dict[str, Any]
    ) -> Any:
        log: list[bool] = []
        _attempts.log = log
        try:
            with redacting(*secrets):
                return method(**params)
        except Exception as exc:
            error, code = self._classify(operation, exc, secrets)
            raise CallFailed(
                error, code=code, refused=_is_refusal(exc), attempts=tuple(log)
            ) from None
        finally:
            _attempts.log = None

    def _classify(
        self, operation: str, exc: Exception, secrets: tuple[str, ...]
    ) -> tuple[AccountsError, str | None]:
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )

        op = _api_name(operation)
        pool, client = self.pool_id, self.client_id
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = _scrub(str(error.get("Message", "")), secrets)
            return self._classify_client_error(op, code, message), code
        if isinstance(exc, ConnectionError | HTTPClientError):
            return (
                CognitoUnavailableError(
                    f"Cognito could not be reached for {op} "
                    f"({type(exc).__name__}; endpoint {self._endpoint()})",
                    retry_after=10,
                ),
                None,
            )
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return (
                ProvisioningError(
                    f"{op} needs AWS credentials with admin rights on pool {pool}; boto3 found "
                    "none (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role)",
                    setting="AWS credentials",
                ),
                None,
            )
        if isinstance(exc, NoRegionError):
            return (
                ProvisioningError(
                    f"{op}: no region (check COGNITO_REGION)", setting="COGNITO_REGION"
                ),
                None,
            )
        return (
            ProvisioningError(
                f"{op} on pool {pool} with client {client} failed unexpectedly: "
                f"{type(exc).__name__}: {_scrub(str(exc), secrets)}"
            ),
            None,
        )

    def _classify_client_error(self, op: str, code: str, message: str) -> AccountsError:
        pool, client = self.pool_id, self.client_id
        if code in _THROTTLED:
            return CognitoUnavailableError(
                f"Cognito throttled {op} ({code}) after retries", retry_after=5
            )
        if code in _SERVER_SIDE:
            return CognitoUnavailableError(f"Cognito failed {op} ({code})", retry_after=10)
        if code == "InvalidPasswordException" or (
            # AWS's pattern check of a password parameter ("Value at 'password' failed ...").
            code == "InvalidParameterException"
            and op != "AdminInitiateAuth"
            and "password" in message.lower()
        ):
            return InvalidPasswordError(
                message or "the password does not meet the user pool's password policy"
            )
        if code == "ResourceNotFoundException":
            return ProvisioningError(
                f"{op}: {code} ({message}): check COGNITO_USER_POOL_ID={pool}, "
                f"the first COGNITO_CLIENT_ID={client} (a client of that pool) and "
                f"COGNITO_REGION={self.settings.region}",
                setting="COGNITO_USER_POOL_ID",
            )
        if code == "InvalidParameterException" and op == "AdminInitiateAuth":
            return ProvisioningError(
                f"{op}: {code} ({message}): the app client {client} (first of COGNITO_CLIENT_ID) "
                "must allow ALLOW_ADMIN_USER_PASSWORD_AUTH in its explicit auth flows",
                setting="COGNITO_CLIENT_ID",
            )
        if code == "InvalidParameterException":
            return ProvisioningError(
                f"{op}: {code} ({message}): check the settings and attribute schema of user pool "
                f"{pool} (COGNITO_USER_POOL_ID) and app client {client} (COGNITO_CLIENT_ID)",
                setting="COGNITO_USER_POOL_ID",
            )
        if code == "NotAuthorizedException" and "secret" in message.lower():
            return ProvisioningError(
                f"{op}: {code} ({message}): COGNITO_CLIENT_SECRET does not match the secret of "
                f"app client {client}, or is missing",
                setting="COGNITO_CLIENT_SECRET",
            )
        if code == "NotAuthorizedException":
            return ProvisioningError(
                f"{op}: {code} ({message}): check that app client {client} (COGNITO_CLIENT_ID) "
                f"belongs to pool {pool} (COGNITO_USER_POOL_ID), that COGNITO_CLIENT_SECRET is "
                "right, and that the AWS credentials may administer the pool",
                setting="COGNITO_CLIENT_ID",
            )
        if code in _CREDENTIALS:
            return ProvisioningError(
                f"{op}: {code} ({message}): the AWS credentials boto3 uses may not call "
                f"cognito-idp:{op} on pool {pool}",
                setting="AWS credentials",
            )
        return ProvisioningError(
            f"{op} on pool {pool} with client {client} failed: {code} ({message})"
        )

    def _endpoint(self) -> str:
        client = self._client
        return str(client.meta.endpoint_url) if client is not None else "unknown"


def _is_refusal(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
    return isinstance(status, int) and 400 <= status < 500


def _api_name(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
