"""Create, or find, a user pool and app client set up the way cognito-asgi expects.

The setup (see the README, "Configuring a real pool"): only administrators create users, email
is a sign-in alias (the username is the application's own user id), and one app client without
a secret, because sign-in happens in a browser that cannot keep one, allowing
ALLOW_ADMIN_USER_PASSWORD_AUTH (account creation), ALLOW_USER_SRP_AUTH (the browser's sign-in)
and ALLOW_REFRESH_TOKEN_AUTH. Against an emulator, which does not check SRP proofs,
ALLOW_USER_PASSWORD_AUTH is added so that the browser can sign in with a plain password.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = [
    "DEFAULT_CLIENT_NAME",
    "PoolSetup",
    "PoolSetupError",
    "auth_flows",
    "ensure_pool",
    "register",
]

DEFAULT_CLIENT_NAME = "web"

# CreateUserPool's PoolName and CreateUserPoolClient's ClientName patterns (API reference).
_NAME = re.compile(r"[\w\s+=,.@-]{1,128}")

_REQUIRED_FLOWS = (
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
)
_PASSWORD_FLOW = "ALLOW_USER_PASSWORD_AUTH"


def auth_flows(*, user_password_auth: bool = False) -> list[str]:
    """The app client's ExplicitAuthFlows; `user_password_auth` adds ALLOW_USER_PASSWORD_AUTH."""
    flows = list(_REQUIRED_FLOWS)
    if user_password_auth:
        flows.append(_PASSWORD_FLOW)
    return flows


class PoolSetupError(Exception):
    """The pool cannot be created or identified; the message says what to do."""


@dataclass(frozen=True, slots=True)
class PoolSetup:
    """A pool and app client, and whether this run created them."""

    name: str
    user_pool_id: str
    client_id: str
    region: str
    endpoint_url: str | None = None
    created: bool = False
    client_created: bool = False
    warnings: tuple[str, ...] = field(default=())

    @property
    def environ(self) -> dict[str, str]:
        """The `COGNITO_*` variables that point cognito-asgi at this pool."""
        env = {"COGNITO_USER_POOL_ID": self.user_pool_id, "COGNITO_CLIENT_ID": self.client_id}
        if self.endpoint_url:
            env["COGNITO_ENDPOINT_URL"] = self.endpoint_url
        return env

    def env_block(self) -> str:
        return "".join(f"{name}={value}\n" for name, value in self.environ.items())


def ensure_pool(
    client: CognitoIdentityProviderClient,
    name: str,
    *,
    client_name: str = DEFAULT_CLIENT_NAME,
    user_password_auth: bool = False,
) -> PoolSetup:
    """Find the pool named `name` or create it, and its app client named `client_name`.

    Usage::

        setup = ensure_pool(boto3.client("cognito-idp"), "my-app")
        print(setup.env_block())

    An existing pool is reported as it is, with a warning for each difference from the
    expected setup; a missing app client is added. Blocking (boto3): call it from a thread in
    async code. Raises `PoolSetupError` when several pools carry the name.
    """
    for label, value in (("pool name", name), ("client name", client_name)):
        if not _NAME.fullmatch(value):
            raise PoolSetupError(
                f"{value!r} is not a valid {label} (1 to 128 letters, digits, spaces or +=,.@_-)"
            )
    region = client.meta.region_name
    endpoint = _endpoint_of(client)
    existing = [
        pool["Id"]
        for page in client.get_paginator("list_user_pools").paginate(
            PaginationConfig={"PageSize": 60}
        )
        for pool in page.get("UserPools", [])
        if pool.get("Name") == name
    ]
    if len(existing) > 1:
        raise PoolSetupError(
            f"{len(existing)} user pools are named {name!r} ({', '.join(existing)}); "
            "choose one and set COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID by hand"
        )
    warnings: list[str] = []
    if existing:
        pool_id = existing[0]
        created = False
        warnings.extend(_pool_warnings(client.describe_user_pool(UserPoolId=pool_id)["UserPool"]))
    else:
        pool_id = client.create_user_pool(
            PoolName=name,
            AliasAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            UsernameConfiguration={"CaseSensitive": False},
            AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
            AccountRecoverySetting={
                "RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]
            },
        )["UserPool"]["Id"]
        created = True

    client_ids = [
        app_client["ClientId"]
        for page in client.get_paginator("list_user_pool_clients").paginate(
            UserPoolId=pool_id, PaginationConfig={"PageSize": 60}
        )
        for app_client in page.get("UserPoolClients", [])
        if app_client.get("ClientName") == client_name
    ]
    if len(client_ids) > 1:
        raise PoolSetupError(
            f"the pool {pool_id} has {len(client_ids)} app clients named {client_name!r}; "
            "choose one and set COGNITO_CLIENT_ID by hand"
        )
    if client_ids:
        client_id = client_ids[0]
        client_created = False
        described = client.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
        warnings.extend(_client_warnings(described["UserPoolClient"], user_password_auth))
    else:
        client_id = client.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=client_name,
            GenerateSecret=False,
            ExplicitAuthFlows=auth_flows(user_password_auth=user_password_auth),  # type: ignore[arg-type]
            PreventUserExistenceErrors="ENABLED",
            EnableTokenRevocation=True,
        )["UserPoolClient"]["ClientId"]
        client_created = True
    return PoolSetup(
        name=name,
        user_pool_id=pool_id,
        client_id=client_id,
        region=region,
        endpoint_url=endpoint,
        created=created,
        client_created=client_created,
        warnings=tuple(warnings),
    )


def _endpoint_of(client: Any) -> str | None:
    url = str(client.meta.endpoint_url).rstrip("/")
    return None if url.endswith(".amazonaws.com") else url


def _pool_warnings(pool: Any) -> list[str]:
    warnings = []
    if not pool.get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly"):
        warnings.append(
            "the pool lets users sign themselves up (AllowAdminCreateUserOnly is false), "
            "bypassing POST /accounts"
        )
    if "email" not in (pool.get("AliasAttributes") or []):
        warnings.append(
            "email is not a sign-in alias of the pool (AliasAttributes), so users cannot "
            "sign in with their email"
        )
    return warnings


def _client_warnings(app_client: Any, user_password_auth: bool) -> list[str]:
    warnings = []
    if app_client.get("ClientSecret"):
        warnings.append(
            "the app client has a secret, which a browser cannot keep: set "
            "COGNITO_CLIENT_SECRET for the server, and use a client without a secret for the "
            "web page"
        )
    flows = set(app_client.get("ExplicitAuthFlows") or ())
    missing = [
        flow for flow in auth_flows(user_password_auth=user_password_auth) if flow not in flows
    ]
    if missing:
        warnings.append(f"the app client does not allow {', '.join(missing)}")
    return warnings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "create-pool",
        help="create (or find) a user pool and app client set up for cognito-asgi",
        description="Create a user pool named NAME where only administrators create users and "
        "email is a sign-in alias, with an app client without a secret, or report the existing "
        "pool of that name. Talks to AWS with boto3's usual credentials, or to the emulator at "
        "COGNITO_ENDPOINT_URL. Prints the COGNITO_* variables to standard output.",
    )
    parser.add_argument("--name", required=True, help="the user pool's name")
    parser.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_REGION)")
    parser.add_argument(
        "--client-name",
        default=DEFAULT_CLIENT_NAME,
        help=f"the app client's name (default: {DEFAULT_CLIENT_NAME})",
    )
    parser.add_argument(
        "--user-password-auth",
        action="store_true",
        help="also allow USER_PASSWORD_AUTH (always on with COGNITO_ENDPOINT_URL, whose "
        "emulator does not check SRP proofs)",
    )
    parser.set_defaults(handler=_create_pool)


def _create_pool(args: argparse.Namespace) -> int:
    import boto3
    import botocore.exceptions

    endpoint = os.environ.get("COGNITO_ENDPOINT_URL", "").strip() or None
    if endpoint is not None and not re.match(r"https?://[^/\s]+", endpoint):
        raise ConfigurationError("COGNITO_ENDPOINT_URL", f"{endpoint!r} is not an http(s) URL")
    try:
        client = boto3.client("cognito-idp", region_name=args.region, endpoint_url=endpoint)
        setup = ensure_pool(
            client,
            args.name,
            client_name=args.client_name,
            user_password_auth=args.user_password_auth or endpoint is not None,
        )
    except botocore.exceptions.NoRegionError:
        print("error: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
        return 1
    except botocore.exceptions.NoCredentialsError:
        print(
            "error: no AWS credentials: configure them as for the AWS CLI (AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID, ...)",
            file=sys.stderr,
        )
        return 1
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"error: {error.get('Code', 'ClientError')}: {error.get('Message', '')}",
            file=sys.stderr,
        )
        return 1
    except botocore.exceptions.BotoCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except PoolSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = f" at {setup.endpoint_url}" if setup.endpoint_url else ""
    if setup.created:
        print(f"created user pool {setup.name!r} ({setup.user_pool_id}){where}", file=sys.stderr)
    else:
        print(
            f"user pool {setup.name!r} already exists ({setup.user_pool_id}){where}",
            file=sys.stderr,
        )
    state = "created" if setup.client_created else "existing"
    print(f"{state} app client {args.client_name!r} ({setup.client_id})", file=sys.stderr)
    for warning in setup.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("# paste into the environment of the API server:", file=sys.stderr)
    sys.stdout.write(setup.env_block())
    return 0
