from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._app import HostedUIApp
from ._session import cookie_header_without, unverified_exp

__all__ = ["SessionRenewalMiddleware"]


class SessionRenewalMiddleware:
    """Renews an expired Hosted UI session server-side, before the request reaches the app.

    Put it outside `CognitoAuthMiddleware`::

        app = CognitoAuthMiddleware(app, token_cookie=hosted.token_cookie, ...)
        app = SessionRenewalMiddleware(app, hosted_ui=hosted)

    When a request carries the refresh cookie but its access-token cookie is missing or expires
    within `renew_before_seconds`, the refresh token is exchanged at the token endpoint, the new
    access token is verified, the request continues with it in its Cookie header, and the
    response sets the new cookie. A refused refresh token clears the session, so the request
    goes on signed out (and a browser is sent to sign in again by `redirect_to_sign_in`).
    Requests with an Authorization header, and the sign-in routes themselves, pass untouched.
    """

    def __init__(
        self, app: ASGIApp, *, hosted_ui: HostedUIApp, renew_before_seconds: float = 30.0
    ) -> None:
        self.app = app
        self.hosted = hosted_ui
        self.renew_before_seconds = renew_before_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_sign_in_route(scope["path"]):
            await self.app(scope, receive, send)
            return
        settings = self.hosted.hosted_ui
        raw_cookies: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                await self.app(scope, receive, send)
                return
            if name == b"cookie":
                raw_cookies.append(value)
        if not raw_cookies:
            await self.app(scope, receive, send)
            return
        cookies = cookie_parser(b"; ".join(raw_cookies).decode("latin-1"))
        sealed = cookies.get(settings.refresh_cookie)
        if not sealed:
            await self.app(scope, receive, send)
            return
        exp = unverified_exp(cookies.get(settings.access_cookie))
        if exp is not None and exp - self.hosted.clock() > self.renew_before_seconds:
            await self.app(scope, receive, send)
            return

        renewal = await self.hosted.renew(sealed)
        if renewal.access_token is not None or renewal.set_cookies:
            names = {settings.access_cookie}
            if renewal.access_token is None:
                names.add(settings.refresh_cookie)
            header = cookie_header_without(scope["headers"], names)
            if renewal.access_token is not None:
                pair = f"{settings.access_cookie}={renewal.access_token}".encode("latin-1")
                header = header + b"; " + pair if header else pair
            headers = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
            if header:
                headers.append((b"cookie", header))
            scope = dict(scope, headers=headers)
        if not renewal.set_cookies:
            await self.app(scope, receive, send)
            return

        set_cookies = [(b"set-cookie", value) for value in renewal.set_cookies]

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", ()), *set_cookies])
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _is_sign_in_route(self, path: str) -> bool:
        auth_path = self.hosted.hosted_ui.auth_path
        if auth_path:
            return path == auth_path or path.startswith(auth_path + "/")
        return path in ("/login", "/callback", "/logout")
