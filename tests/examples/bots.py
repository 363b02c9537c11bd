"""Bots for the example servers: ``ws.connect`` clients that speak their JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import ws
from tests.support import raw_request

TIMEOUT = 5.0  # bound on any single wait


class Bot:
    def __init__(self, sock: ws.WebSocket, name: str = "") -> None:
        self.sock = sock
        self.name = name
        self.seen: list[dict[str, Any]] = []
        self.state: dict[str, Any] | None = None  # the last full state the server sent

    @classmethod
    async def connect(cls, server: ws.Server, path: str, **query: Any) -> Bot:
        qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
        sock = await ws.connect(f"ws://127.0.0.1:{server.port}{path}" + ("?" + qs if qs else ""))
        return cls(sock, str(query.get("name", "")))

    def send(self, obj: Any) -> None:
        self.sock.text(json.dumps(obj))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        async def next_message() -> Any:
            return await self.sock

        msg = json.loads(await asyncio.wait_for(next_message(), timeout))
        self.seen.append(msg)
        if isinstance(msg.get("state"), dict):
            self.state = msg["state"]
        return msg

    async def recv_type(self, *kinds: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip messages until one whose type is in *kinds*."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.recv()
                if msg.get("type") in kinds:
                    return msg

    async def until_closed(self, timeout: float = TIMEOUT) -> tuple[list[dict[str, Any]], ws.Closed]:
        got: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    got.append(await self.recv())
        except ws.Closed as exc:
            return got, exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        if not self.sock.closed:
            self.sock.close()
        await asyncio.wait_for(self.sock.wait_closed(), TIMEOUT)


class ChessBot(Bot):
    color: str | None = None
    matched: dict[str, Any] | None = None

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


async def http_get(server: ws.Server, path: str) -> tuple[int, bytes]:
    raw = await raw_request(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body
