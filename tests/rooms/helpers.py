"""Helpers of the rooms tests: seating bots in a lobby, and an app with one lobby
(the bot itself is ``tests.support.Bot``)."""

from __future__ import annotations

import asyncio
from typing import Any

import ws
from tests.support import Bot, scaled


async def seat(server: ws.Server, names: list[str], path: str = "/game", **query: Any) -> list[Bot]:
    """Connect one bot per name, in order, and wait until all are matched."""
    bots = []
    for name in names:
        bot = await Bot.connect(server, path, name=name, **query)
        bots.append(bot)
        if len(bots) < len(names):
            await bot.recv_type("lobby")  # queued, in this order
    for bot in bots:
        await bot.recv_type("matched")
    return bots


def lobby_app(n: int, game, path: str = "/game", **options: Any) -> tuple[ws.App, Any]:
    """An app with one lobby at *path*; returns ``(app, lobby)``."""
    import rooms

    app = ws.App()
    lobby = rooms.Lobby(n, game, **options)
    app.route(path)(lobby)
    return app, lobby


class ServerSockets:
    """A route of *app* whose server-side sockets a test takes in hand: to seat
    them in a room it builds itself, or to hand them to ``adopt_room`` as a
    cluster's bridges hand the players still connected.  The route's handler
    only waits for the socket to close; the room reads it."""

    def __init__(self, app: ws.App, path: str = "/edge") -> None:
        self.path = path
        self.socks: asyncio.Queue[ws.WebSocket] = asyncio.Queue()

        @app.route(path)
        @ws.endpoint
        async def hold(request: ws.Request, sock: ws.WebSocket) -> None:
            await self.socks.put(sock)
            await sock.wait_closed()

    async def connect(self, server: ws.Server) -> tuple[Bot, ws.WebSocket]:
        """A client connected to the route, and its socket on the server."""
        client = await Bot.connect(server, self.path)
        return client, await asyncio.wait_for(self.socks.get(), scaled(3))
