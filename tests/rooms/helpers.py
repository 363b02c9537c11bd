"""Client helpers for the rooms tests: a ``Bot`` that speaks the lobby's JSON protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import pytest

import ws
from tests.support import url

TIMEOUT = 5.0  # upper bound on any single wait; tests normally finish far sooner


class Bot:
    """A ``ws.connect`` client: ``send`` JSON (or msgpack), ``recv`` decoded messages."""

    def __init__(self, sock: ws.WebSocket, name: str = "") -> None:
        self.sock = sock
        self.name = name
        self.matched: dict[str, Any] | None = None

    @classmethod
    async def connect(cls, server: ws.Server, path: str = "/game", **query: Any) -> Bot:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        sock = await ws.connect(url(server, path + ("?" + qs if qs else "")))
        return cls(sock, str(query.get("name", "")))

    def send(self, obj: Any) -> None:
        self.sock.text(json.dumps(obj))

    def send_raw(self, message: str | bytes) -> None:
        self.sock.send(message)

    def send_data(self, obj: Any) -> None:
        self.sock.data(msgpack.packb(obj, use_bin_type=True))

    async def recv_raw(self, timeout: float = TIMEOUT) -> str | bytes:
        async def next_message() -> str | bytes:
            return await self.sock

        return await asyncio.wait_for(next_message(), timeout)

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        """The next message, decoded (JSON text or msgpack data)."""
        raw = await self.recv_raw(timeout)
        return json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw, raw=False)

    async def recv_type(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip messages until one of ``type`` *kind* (lobby status updates, mostly)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.recv()
                if isinstance(msg, dict) and msg.get("type") == kind:
                    if kind == "matched":
                        self.matched = msg
                    return msg

    async def nothing(self, wait: float = 0.1) -> None:
        """Assert that no message arrives within *wait* seconds."""
        with pytest.raises(TimeoutError):
            msg = await self.recv(wait)
            pytest.fail(f"unexpected message {msg!r}")  # pragma: no cover

    async def closed(self, timeout: float = TIMEOUT) -> ws.Closed:
        """Read (and drop) messages until the server closes; return the Closed."""
        with pytest.raises(ws.Closed) as info:
            async with asyncio.timeout(timeout):
                while True:
                    await self.sock
        return info.value

    async def messages_until_closed(self, timeout: float = TIMEOUT) -> tuple[list[Any], ws.Closed]:
        """Every message left before the close, and the Closed."""
        got: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self.sock
                    got.append(json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw, raw=False))
        except ws.Closed as exc:
            return got, exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        if not self.sock.closed:
            self.sock.close()
        await asyncio.wait_for(self.sock.wait_closed(), TIMEOUT)


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


async def close_all(bots: list[Bot]) -> None:
    await asyncio.gather(*(b.aclose() for b in bots))


def lobby_app(n: int, game, path: str = "/game", **options: Any) -> tuple[ws.App, Any]:
    """An app with one lobby at *path*; returns ``(app, lobby)``."""
    import rooms

    app = ws.App()
    lobby = rooms.Lobby(n, game, **options)
    app.route(path)(lobby)
    return app, lobby
