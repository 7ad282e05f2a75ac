"""Runs one sign-up through AccountsApp and kills the process at a chosen botocore event.

    python die_mid_sign_up.py EVENT EMAIL

EVENT is a botocore event name such as `after-call.cognito-idp.AdminCreateUser`; when it fires
the process ends at once with status 17, as a crash or a kill would end it, leaving whatever
was done so far. The pool, the database and the password flow come from the COGNITO_*
environment variables.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx

from cognito_asgi import CognitoSettings
from cognito_asgi.accounts import AccountsApp, SQLUserStore
from cognito_asgi.accounts._cognito import build_client

KILLED = 17
PASSWORD = "Correct-Horse-7-Battery"


async def main(event: str, email: str) -> int:
    settings = CognitoSettings.from_env()
    client = build_client(settings)

    def die(**_: Any) -> None:
        os._exit(KILLED)

    client.meta.events.register(event, die)
    store = SQLUserStore(settings.accounts_database_url)
    app = AccountsApp(settings, store=store, cognito_client=client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as http:
        response = await http.post("/", json={"name": "Dies", "email": email, "password": PASSWORD})
    print(response.status_code, response.text)
    await app.aclose()
    await store.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
