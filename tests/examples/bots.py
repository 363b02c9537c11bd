"""The chess bot of the example server's tests: ``tests.support.Bot`` with a color,
and helpers to seat two of them and play moves."""

from __future__ import annotations

from typing import Any

import ws
from tests.support import Bot


class ChessBot(Bot):
    color: str | None = None

    async def wait_start(self) -> dict[str, Any]:
        msg = await self.recv_type("start")
        self.state = msg["state"]
        seat = self.matched["seat"] if self.matched else None
        self.color = "white" if msg["state"]["colors"]["white"]["seat"] == seat else "black"
        return msg

    async def wait_matched(self) -> dict[str, Any]:
        self.matched = await self.recv_type("matched")
        return self.matched

    def move(self, san: str) -> None:
        self.send({"type": "move", "san": san})


async def chess_pair(server: ws.Server, mode: str | None = None, **query: Any) -> tuple[ChessBot, ChessBot]:
    """Two bots matched in one chess game, returned as ``(white, black)``."""
    extra = {"mode": mode} if mode else {}
    a = await ChessBot.connect(server, "/chess/ws", name="alice", **extra, **query)
    await a.recv_type("lobby")
    b = await ChessBot.connect(server, "/chess/ws", name="bob", **extra, **query)
    for bot in (a, b):
        await bot.wait_matched()
        await bot.wait_start()
    assert {a.color, b.color} == {"white", "black"}
    return (a, b) if a.color == "white" else (b, a)


async def play(white: ChessBot, black: ChessBot, sans: list[str]) -> dict[str, Any]:
    """Play *sans* alternately from white; every bot sees every move; returns the last state."""
    bots = {"white": white, "black": black}
    state: dict[str, Any] = {}
    for san in sans:
        bots[white.state["turn"]].move(san)
        for bot in (white, black):
            msg = await bot.recv_type("move", "error")
            assert msg["type"] == "move", msg
            assert msg["move"]["san"] == san
            state = msg["state"]
    return state
