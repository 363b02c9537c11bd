"""A Starlette host for the tests: the games of examples/fastapi_app.py mounted
with Starlette's own ``Mount``, the player known from a bearer token that
Starlette's ``AuthenticationMiddleware`` checks (``scope["user"]``).

    uvicorn tests.asgi.starlette_host:app     hypercorn tests.asgi.starlette_host:app
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import ws
from examples.fastapi_app import make_games

__all__ = ["TOKENS", "app", "games"]

TOKENS = {"token-alice": "alice", "token-bob": "bob", "token-carol": "carol"}


class Bearer(AuthenticationBackend):
    """``Authorization: Bearer <token>`` against the fixed table above."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        name = TOKENS.get(token.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            return None
        return AuthCredentials(["player"]), SimpleUser(name)


def from_scope_user(request: ws.Request) -> dict[str, Any]:
    """The lobbies' ``auth=``: the user the host's middleware put in the scope."""
    user = (request.scope or {}).get("user")
    if user is None or not user.is_authenticated:
        raise ws.HTTPError(401, "no valid bearer token")
    return {"name": user.display_name}


async def home(request: Any) -> PlainTextResponse:
    return PlainTextResponse("starlette host")


games = ws.asgi(make_games(from_scope_user, reconnect=10.0))
app = Starlette(
    routes=[Route("/", home), Mount("/games", app=games)],
    middleware=[Middleware(AuthenticationMiddleware, backend=Bearer())],
    lifespan=games.lifespan,
)
