"""`cognito-asgi demo`: the whole flow on one machine, with no AWS account.

It starts moto's Cognito emulator on 127.0.0.1, creates a pool and app client as
`cognito-asgi create-pool` does, keeps user records in a SQLite file under `.demo/`, and serves
the example API with the static sign-in page on http://127.0.0.1:8000. With
`COGNITO_USER_POOL_ID` and `COGNITO_CLIENT_ID` set it uses that pool instead (on AWS, or at
`COGNITO_ENDPOINT_URL`).

Two things make the emulator behave like Cognito for a browser:

- moto finds a user by username only, while a pool with the `email` alias lets a user sign in
  with a verified email. `install_email_alias_resolution` teaches the emulator of this process
  the same rule (see `resolve_email_alias`).
- The page talks to Cognito from the browser. Rather than open the emulator to cross-origin
  calls, the demo forwards the user-facing Cognito operations from its own origin (`/cognito`),
  so the page's Content-Security-Policy can stay `connect-src 'self'`.

With `COGNITO_DOMAIN` (and the other Hosted UI variables, see `HostedUISettings`) set and a
pool configured, the demo also mounts `HostedUIApp` at `/auth`, and the page offers "Sign in
with the Hosted UI".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError
from ._settings import CognitoSettings

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp

    from ._verifier import TokenVerifier
    from .hosted_ui import HostedUIApp, HostedUISettings

__all__ = [
    "DEMO_POOL_NAME",
    "EmbeddedCognito",
    "build_demo_app",
    "find_static_site",
    "install_email_alias_resolution",
    "register",
    "resolve_email_alias",
]

logger = logging.getLogger("cognito_asgi.demo")

DEMO_POOL_NAME = "cognito-asgi-demo"
SDK_PATH = "node_modules/amazon-cognito-identity-js/dist/amazon-cognito-identity.min.js"

_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
# The unauthenticated, user-facing operations the browser SDK uses. Administrative operations
# are never forwarded: the emulator does not check credentials, so forwarding them would let
# any page visitor create or delete users.
_FORWARDED_OPERATIONS = frozenset(
    {
        "InitiateAuth",
        "RespondToAuthChallenge",
        "GetUser",
        "GlobalSignOut",
        "ChangePassword",
        "ForgotPassword",
        "ConfirmForgotPassword",
    }
)
_MAX_PROXY_BODY = 64 * 1024
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_FORWARDED_RESPONSE_HEADERS = ("content-type", "x-amzn-errortype", "x-amzn-requestid")

# Only the page's own origin: no inline script, no third-party host. Against AWS the SDK calls
# Cognito's regional endpoint, added to connect-src.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'{extra}; form-action 'self'{form}; base-uri 'none'; frame-ancestors 'none'"
)
# The variables that ask for the Hosted UI; any of them set means the demo mounts it.
_HOSTED_UI_VARIABLES = ("COGNITO_DOMAIN", "COGNITO_REDIRECT_URI", "COGNITO_SESSION_SECRET")
_HOSTED_UI_PATH = "/auth"
# A CSP host source (CSP3 §2.3.1): the Hosted UI's origin goes into the policy as it is.
_CSP_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]+)?")


# --- The emulator ------------------------------------------------------------------------


def resolve_email_alias(pool: Any, username: str) -> str:
    """The username that `username` names in a moto user pool, resolving a verified email alias.

    As Cognito does for a pool whose `AliasAttributes` include `email`: a username is itself
    when such a user exists; otherwise, when exactly one user has it as a verified email, that
    user's username. An unverified or shared email resolves to nothing (the name is returned
    unchanged, and sign-in fails as for an unknown user). Email comparison follows the pool's
    `UsernameConfiguration.CaseSensitive`.
    """
    if not isinstance(username, str) or username in pool.users:
        return username
    config = pool.extended_config
    if "email" not in (config.get("AliasAttributes") or ()):
        return username
    case_sensitive = (config.get("UsernameConfiguration") or {}).get("CaseSensitive", True)

    def normal(value: str) -> str:
        return value if case_sensitive else value.casefold()

    wanted = normal(username)
    owners = [
        user.username
        for user in pool.users.values()
        if isinstance(user.attribute_lookup.get("email"), str)
        and normal(user.attribute_lookup["email"]) == wanted
        and str(user.attribute_lookup.get("email_verified", "")).lower() == "true"
    ]
    return owners[0] if len(owners) == 1 else username


_install_lock = threading.Lock()


def install_email_alias_resolution() -> None:
    """Make moto's Cognito, in this process, accept a verified email alias at sign-in.

    Wraps the backend's `InitiateAuth` and `AdminInitiateAuth` so that the `USERNAME` they
    receive is first resolved with `resolve_email_alias`; everything after (sessions, tokens,
    refresh tokens) then carries the real username, as with Cognito. Affects every moto server
    of the process; installing twice is harmless.
    """
    from moto.cognitoidp.models import CognitoIdpBackend

    with _install_lock:
        if getattr(CognitoIdpBackend, "_cognito_asgi_email_aliases", False):
            return
        original_initiate = CognitoIdpBackend.initiate_auth
        original_admin_initiate = CognitoIdpBackend.admin_initiate_auth

        def resolved(pool: Any, parameters: Any) -> Any:
            if pool is None or not isinstance(parameters, dict) or "USERNAME" not in parameters:
                return parameters
            return {**parameters, "USERNAME": resolve_email_alias(pool, parameters["USERNAME"])}

        def initiate_auth(self: Any, client_id: str, auth_flow: str, auth_parameters: Any) -> Any:
            pool = next((p for p in self.user_pools.values() if client_id in p.clients), None)
            return original_initiate(self, client_id, auth_flow, resolved(pool, auth_parameters))

        def admin_initiate_auth(
            self: Any, user_pool_id: str, client_id: str, auth_flow: str, auth_parameters: Any
        ) -> Any:
            pool = self.user_pools.get(user_pool_id)
            return original_admin_initiate(
                self, user_pool_id, client_id, auth_flow, resolved(pool, auth_parameters)
            )

        CognitoIdpBackend.initiate_auth = initiate_auth  # type: ignore[method-assign]
        CognitoIdpBackend.admin_initiate_auth = admin_initiate_auth  # type: ignore[method-assign]
        CognitoIdpBackend._cognito_asgi_email_aliases = True  # type: ignore[attr-defined]


class EmbeddedCognito:
    """moto's Cognito server on 127.0.0.1 (a free port by default), resolving email aliases.

    Usage::

        with EmbeddedCognito() as endpoint:
            client = boto3.client("cognito-idp", endpoint_url=endpoint, ...)
    """

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        install_email_alias_resolution()
        # The emulator's request log would print every call, sign-in bodies aside; keep it quiet.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- The demo application ----------------------------------------------------------------


def find_static_site(explicit: str | None = None) -> Path:
    """The static site's folder: `explicit`, else `examples/static_site` of the working
    directory or of the source tree this package runs from."""
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        candidates = [
            Path.cwd() / "examples" / "static_site",
            Path(__file__).resolve().parent.parent / "examples" / "static_site",
        ]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            if not (candidate / SDK_PATH).is_file():
                raise ConfigurationError(
                    "--static-dir",
                    f"the Cognito SDK is not installed in {candidate}: run `npm ci` there "
                    "(scripts/demo does it)",
                )
            return candidate.resolve()
    where = ", ".join(str(c) for c in candidates)
    raise ConfigurationError(
        "--static-dir",
        f"no static site (index.html) at {where}: run the demo from a clone of cognito-asgi, "
        "or pass --static-dir",
    )


def page_config(
    settings: CognitoSettings, *, emulator: bool, hosted_ui: HostedUISettings | None = None
) -> dict[str, object]:
    """What the page needs to sign in: pool, client, how to reach Cognito, and the Hosted UI
    routes when they are mounted."""
    config: dict[str, object] = {
        "userPoolId": settings.user_pool_id,
        "clientId": settings.client_ids[0],
        "region": settings.region,
        # Relative to the page: the demo's same-origin route to the emulator.
        "endpoint": "cognito" if emulator else None,
        # The emulator does not check SRP proofs; against AWS the SDK's default, SRP, is used.
        "authFlow": "USER_PASSWORD_AUTH" if emulator else "USER_SRP_AUTH",
        "emulator": emulator,
        "revokeOnSignOut": not emulator,
    }
    if hosted_ui is not None:
        config["hostedUi"] = {
            "login": hosted_ui.login_path,
            "logout": f"{hosted_ui.auth_path}/logout",
        }
    return config


def build_demo_app(
    settings: CognitoSettings,
    *,
    static_dir: Path,
    store: Any = None,
    cognito_client: Any = None,
    emulator_endpoint: str | None = None,
    http_client: httpx.AsyncClient | None = None,
    hosted_ui: HostedUISettings | None = None,
) -> Starlette:
    """The demo's ASGI application: the static page, its `/config.json`, `/accounts` and a
    protected `/api/hello`, behind `CognitoAuthMiddleware`.

    Usage::

        app = build_demo_app(settings, static_dir=find_static_site())

    With `emulator_endpoint`, `/cognito` forwards the browser's sign-in calls to the emulator.
    `store` and `cognito_client` go to `AccountsApp`; `http_client` is used for forwarding.
    With `hosted_ui`, `HostedUIApp` is mounted at `/auth` (its redirect URI must end in
    `/auth/callback`) and the API also reads, and renews, the session cookie it sets.
    """
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route

    from ._middleware import CognitoAuthMiddleware
    from ._verifier import TokenVerifier
    from .accounts import AccountsApp, SQLUserStore, record_loader

    if settings.client_secret is not None:
        raise ConfigurationError(
            "COGNITO_CLIENT_SECRET",
            "the demo page signs in from the browser, which cannot keep a client secret: use "
            "an app client without a secret",
        )
    emulator = emulator_endpoint is not None
    owns_store = store is None
    users = SQLUserStore(settings.accounts_database_url) if store is None else store
    accounts = AccountsApp(settings, store=users, cognito_client=cognito_client)
    verifier = TokenVerifier(settings)
    config = page_config(settings, emulator=emulator, hosted_ui=hosted_ui)
    hosted = None if hosted_ui is None else _hosted_ui_app(settings, hosted_ui, verifier)

    async def hello(request: Request) -> Response:
        user = request.user
        record = getattr(user, "record", None)
        name = getattr(record, "name", None) or user.display_name
        return JSONResponse({"message": f"Hello, {name}!"})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    api: ASGIApp = CognitoAuthMiddleware(
        Starlette(
            routes=[
                Route("/api/hello", hello),
                Route("/health", health),
                accounts.mount("/accounts"),
            ]
        ),
        verifier=verifier,
        public_paths=["/accounts", "/health"],
        user_loader=record_loader(users),
        token_cookie=None if hosted is None else hosted.token_cookie,
        fetch_keys_at_startup=False,  # done by the lifespan below
    )
    if hosted is not None:
        from .hosted_ui import SessionRenewalMiddleware

        api = SessionRenewalMiddleware(api, hosted_ui=hosted)

    def static(name: str, media_type: str) -> Route:
        path = static_dir / name

        async def endpoint(request: Request) -> Response:
            return FileResponse(path, media_type=media_type, headers={"cache-control": "no-cache"})

        return Route("/" + name if name != "index.html" else "/", endpoint, methods=["GET", "HEAD"])

    async def sdk(request: Request) -> Response:
        return FileResponse(
            static_dir / SDK_PATH,
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "no-cache"},
        )

    async def config_json(request: Request) -> Response:
        return JSONResponse(config, headers={"cache-control": "no-store"})

    async def no_favicon(request: Request) -> Response:
        return Response(status_code=204)

    # The forwarding client: `http_client`, else one opened by the lifespan.
    forward_client: list[httpx.AsyncClient] = [http_client] if http_client is not None else []

    async def cognito_proxy(request: Request) -> Response:
        if request.method != "POST":
            return Response(status_code=405, headers={"allow": "POST"})
        target = request.headers.get("x-amz-target", "")
        operation = target.removeprefix(_TARGET_PREFIX)
        if not target.startswith(_TARGET_PREFIX) or operation not in _FORWARDED_OPERATIONS:
            return _aws_error(
                400, "InvalidParameterException", "this operation is not forwarded to Cognito"
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_PROXY_BODY:
                return _aws_error(413, "InvalidParameterException", "the request is too large")
        try:
            async with contextlib.AsyncExitStack() as stack:
                if forward_client:
                    client = forward_client[0]
                else:  # served without a lifespan: a client for this request only
                    client = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
                upstream = await client.post(
                    f"{emulator_endpoint}/",
                    content=bytes(body),
                    headers={"content-type": "application/x-amz-json-1.1", "x-amz-target": target},
                )
        except httpx.HTTPError:
            return _aws_error(502, "InternalErrorException", "the Cognito emulator did not answer")
        headers = {
            name: upstream.headers[name]
            for name in _FORWARDED_RESPONSE_HEADERS
            if name in upstream.headers
        }
        headers["cache-control"] = "no-store"
        return Response(upstream.content, status_code=upstream.status_code, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if owns_store:
                stack.push_async_callback(users.aclose)
            stack.push_async_callback(accounts.aclose)
            if emulator and http_client is None:
                own = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
                stack.push_async_callback(own.aclose)
                stack.callback(forward_client.clear)
                forward_client[:] = [own]
            if not await verifier.start():
                logger.warning("the pool's key set could not be fetched from %s", verifier.jwks.url)
            yield

    routes: list[BaseRoute] = [
        static("index.html", "text/html; charset=utf-8"),
        static("app.js", "text/javascript; charset=utf-8"),
        static("style.css", "text/css; charset=utf-8"),
        Route("/vendor/amazon-cognito-identity.min.js", sdk, methods=["GET", "HEAD"]),
        Route("/config.json", config_json, methods=["GET", "HEAD"]),
        Route("/favicon.ico", no_favicon, methods=["GET", "HEAD"]),
    ]
    if emulator:
        routes.append(Route("/cognito", cognito_proxy, methods=_ALL_METHODS))
    if hosted is not None:
        routes.append(Mount(_HOSTED_UI_PATH, app=hosted))
    routes.append(Mount("", app=api))
    extra = "" if emulator else f" https://cognito-idp.{settings.region}.amazonaws.com"
    # Sign-out posts a form that is redirected to the Hosted UI's /logout; browsers apply
    # form-action to that redirect as well.
    form = "" if hosted is None else f" {hosted.hosted_ui.domain}"
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        _SecurityHeaders,
        csp=_CSP.format(extra=extra, form=form),
        # The sign-out form's POST must carry this page's Origin (its CSRF check): under
        # no-referrer browsers send `Origin: null` (Fetch standard, "append a request Origin
        # header"). same-origin still sends nothing to other sites.
        referrer_policy="no-referrer" if hosted is None else "same-origin",
    )
    return app


def _hosted_ui_app(
    settings: CognitoSettings, hosted_ui: HostedUISettings, verifier: TokenVerifier
) -> HostedUIApp:
    from .hosted_ui import HostedUIApp

    if hosted_ui.auth_path != _HOSTED_UI_PATH:
        raise ConfigurationError(
            "COGNITO_REDIRECT_URI",
            f"the demo serves the Hosted UI routes at {_HOSTED_UI_PATH}: use "
            f"{hosted_ui.origin}{_HOSTED_UI_PATH}/callback",
        )
    if not _CSP_ORIGIN.fullmatch(hosted_ui.domain):
        raise ConfigurationError(
            "COGNITO_DOMAIN",
            f"{hosted_ui.domain!r}: the demo needs a host name or IPv4 address, e.g. "
            "https://example.auth.us-east-1.amazoncognito.com",
        )
    return HostedUIApp(settings=settings, hosted_ui=hosted_ui, verifier=verifier)


def _aws_error(status: int, code: str, message: str) -> Response:
    from starlette.responses import Response

    body = json.dumps({"__type": code, "message": message})
    return Response(
        body,
        status_code=status,
        media_type="application/x-amz-json-1.1",
        headers={"x-amzn-errortype": code, "cache-control": "no-store"},
    )


class _SecurityHeaders:
    def __init__(self, app: ASGIApp, *, csp: str, referrer_policy: str = "no-referrer") -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", referrer_policy.encode()),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- The command -------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole flow locally: Cognito emulator, accounts API and sign-in page",
        description="Serve the example API and the static sign-in page on 127.0.0.1. Without "
        "COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID it starts an embedded Cognito emulator and "
        "creates a pool; with them it uses that pool (on AWS, or at COGNITO_ENDPOINT_URL). User "
        "records go to a SQLite file under .demo/ unless COGNITO_ACCOUNTS_DATABASE_URL is set.",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0: any free)"
    )
    parser.add_argument(
        "--static-dir", help="the static site's folder (default: examples/static_site)"
    )
    parser.add_argument(
        "--data-dir", default=".demo", help="where the SQLite file goes (default: .demo)"
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    try:
        import boto3
        import uvicorn
    except ImportError as exc:
        print(
            f"error: the demo needs {exc.name}: pip install 'cognito-asgi[demo]'", file=sys.stderr
        )
        return 2
    if not 0 <= args.port <= 65535:
        raise ConfigurationError("--port", f"{args.port} is not a port number")
    static_dir = find_static_site(args.static_dir)
    data_dir = Path(args.data_dir)
    env = {name: value for name, value in os.environ.items() if name.startswith("COGNITO_")}
    embedded = not (env.get("COGNITO_USER_POOL_ID") or env.get("COGNITO_CLIENT_ID"))
    hosted_ui = None
    if any(env.get(name, "").strip() for name in _HOSTED_UI_VARIABLES):
        from .hosted_ui import HostedUISettings

        hosted_ui = HostedUISettings.from_env(env)
        if embedded:
            raise ConfigurationError(
                "COGNITO_DOMAIN",
                "the embedded emulator has no Hosted UI: also set COGNITO_USER_POOL_ID and "
                "COGNITO_CLIENT_ID of the pool this domain belongs to",
            )
        try:
            import authlib  # noqa: F401
        except ImportError:
            print(
                "error: the Hosted UI needs authlib: pip install 'cognito-asgi[hosted-ui]'",
                file=sys.stderr,
            )
            return 2

    with contextlib.ExitStack() as stack:
        cognito_client: Any = None
        if embedded:
            for name in ("COGNITO_ENDPOINT_URL", "COGNITO_JWKS_URL", "COGNITO_ISSUER"):
                env.pop(name, None)
            try:
                import moto.server  # noqa: F401
            except ImportError:
                print(
                    "error: the demo needs moto: pip install 'cognito-asgi[demo]'", file=sys.stderr
                )
                return 2
            from ._pool import ensure_pool

            endpoint = stack.enter_context(EmbeddedCognito())
            # The emulator accepts any credentials; these never leave 127.0.0.1.
            cognito_client = boto3.client(
                "cognito-idp",
                region_name="us-east-1",
                endpoint_url=endpoint,
                aws_access_key_id="demo",
                aws_secret_access_key="demo",  # noqa: S106
            )
            setup = ensure_pool(cognito_client, DEMO_POOL_NAME, user_password_auth=True)
            env.update(setup.environ)
            if "COGNITO_ACCOUNTS_DATABASE_URL" not in env:
                # The emulator forgets its users when it stops, so records from an earlier
                # run would only block their emails: start from an empty file.
                database = data_dir / "accounts-emulator.sqlite3"
                data_dir.mkdir(parents=True, exist_ok=True)
                database.unlink(missing_ok=True)
                env["COGNITO_ACCOUNTS_DATABASE_URL"] = f"sqlite+aiosqlite:///{database.resolve()}"
        elif "COGNITO_ACCOUNTS_DATABASE_URL" not in env:
            data_dir.mkdir(parents=True, exist_ok=True)
            database = (data_dir / "accounts.sqlite3").resolve()
            env["COGNITO_ACCOUNTS_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
        settings = CognitoSettings.from_env(env)
        if cognito_client is None and settings.endpoint_url is not None:
            cognito_client = boto3.client(
                "cognito-idp", region_name=settings.region, endpoint_url=settings.endpoint_url
            )
        app = build_demo_app(
            settings,
            static_dir=static_dir,
            cognito_client=cognito_client,
            emulator_endpoint=settings.endpoint_url,
            hosted_ui=hosted_ui,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stack.callback(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", args.port))
        except OSError as exc:
            print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
            return 1
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        _print_banner(
            url, settings, env, embedded=embedded, static_dir=static_dir, hosted_ui=hosted_ui
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    print("cognito-asgi demo: stopped", flush=True)
    return 0


def _print_banner(
    url: str,
    settings: CognitoSettings,
    env: Mapping[str, str],
    *,
    embedded: bool,
    static_dir: Path,
    hosted_ui: HostedUISettings | None = None,
) -> None:
    if embedded:
        cognito = f"embedded emulator at {settings.endpoint_url} (pool {DEMO_POOL_NAME!r})"
    elif settings.endpoint_url:
        cognito = f"emulator at {settings.endpoint_url}"
    else:
        cognito = f"AWS, region {settings.region}"
    lines = [
        "cognito-asgi demo",
        f"  Cognito:  {cognito}",
        f"  page:     {static_dir}",
        *(
            [f"  Hosted UI: {hosted_ui.domain} (callback {hosted_ui.redirect_uri})"]
            if hosted_ui is not None
            else []
        ),
        "  environment:",
        *(f"    {name}={value}" for name, value in _printable(env)),
        "",
        f"  Open {url} in a browser (Ctrl-C stops the demo).",
    ]
    print("\n".join(lines), flush=True)


def _printable(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """The COGNITO_* variables worth showing, without secrets: no client secret, no database
    password, and no inline key set (long, and not needed to reproduce the setup)."""
    from urllib.parse import urlsplit

    shown = []
    for name in sorted(env):
        value = env[name]
        if not name.startswith("COGNITO_") or "SECRET" in name or name == "COGNITO_JWKS_JSON":
            continue
        if name == "COGNITO_ACCOUNTS_DATABASE_URL":
            parts = urlsplit(value)
            if parts.password:
                netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
                value = parts._replace(netloc=netloc).geturl()
        shown.append((name, value))
    return shown
