"""Helpers of the archive tests: records made by hand, a lobby whose game ends on
the first message, and an identity per ``?name=`` (so players can be rated)."""

from __future__ import annotations

import time
from typing import Any

import rooms
import ws
from rooms.archive import GameRecord, PlayerRecord


def record(room_id: str, *, lobby: str = "game", mode: str = "", players: tuple[str, ...] = ("ann", "bob"), ended_at: float | None = None, **extra: Any) -> GameRecord:
    """A finished room of *players* (their ids are their names) as the lobby would record it."""
    ended = time.time() if ended_at is None else ended_at
    seats = tuple(PlayerRecord(i, name, name) for i, name in enumerate(players))
    extra.setdefault("result", {"winner": 0})
    return GameRecord(room_id, lobby, mode, seats, ended - 10.0, ended, **extra)


def identify(request: ws.Request) -> dict[str, Any]:
    """``auth``: the player's id and name are ``?name=``."""
    name = request.query.get("name") or "anon"
    return {"id": name, "name": name}


async def first_word_wins(room: rooms.Room) -> dict[str, Any]:
    """A game of two: whoever sends ``"win"`` first wins; ``"draw"`` draws."""
    async for player, message in room:
        if message == "win":
            return {"winner": player.seat, "moves": [player.name]}
        if message == "draw":
            return {"winner": None}
    return {}


def game_app(game: Any = first_word_wins, path: str = "/game", **options: Any) -> tuple[ws.App, rooms.Lobby]:
    app = ws.App()
    lobby = rooms.Lobby(2, game, auth=identify, **options)
    app.route(path)(lobby)
    return app, lobby
