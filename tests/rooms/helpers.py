"""Helpers of the rooms tests: seating bots in a lobby, and an app with one lobby
(the bot itself is ``tests.support.Bot``)."""

from __future__ import annotations

from typing import Any

import ws
from tests.support import Bot


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
