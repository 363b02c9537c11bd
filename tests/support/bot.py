"""One bot: a ``ws.connect`` client that speaks JSON (and msgpack) as a player of a
``rooms`` lobby, of an example server or of a cluster node does."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Self

import msgpack
import pytest

import ws

from .endpoint import closed_by_server
from .server import HasPort, url
from .timing import TIMEOUT

__all__ = ["Bot", "close_all"]


def _decode(raw: str | bytes) -> Any:
    return json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw, raw=False)


class Bot:
    """A player's connection: ``send`` JSON (or msgpack), ``recv`` decoded messages.

    Every message it decodes is kept in ``seen``; the last ``state`` object a
    message carried in ``state``; the last ``matched`` message in ``matched``.
    """

    def __init__(self, sock: ws.WebSocket, name: str = "") -> None:
        self.sock = sock
        self.name = name
        self.matched: dict[str, Any] | None = None
        self.seen: list[Any] = []
        self.state: dict[str, Any] | None = None

    @classmethod
    async def connect(cls, server: HasPort, path: str = "/game", **query: Any) -> Self:
        """Connect to *path* on *server* (a ``ws.Server`` or a cluster node) with *query*."""
        sock = await asyncio.wait_for(ws.connect(url(server, path, **query)), TIMEOUT)
        return cls(sock, str(query.get("name", "")))

    def send(self, obj: Any) -> None:
        self.sock.text(json.dumps(obj))

    def send_raw(self, message: str | bytes) -> None:
        self.sock.send(message)

    def send_data(self, obj: Any) -> None:
        self.sock.data(msgpack.packb(obj, use_bin_type=True))

    def _keep(self, msg: Any) -> Any:
        self.seen.append(msg)
        if isinstance(msg, dict) and isinstance(msg.get("state"), dict):
            self.state = msg["state"]
        return msg

    async def recv_raw(self, timeout: float = TIMEOUT) -> str | bytes:
        """The next message as it came (``str`` or ``bytes``)."""

        async def next_message() -> str | bytes:
            return await self.sock

        return await asyncio.wait_for(next_message(), timeout)

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        """The next message, decoded (JSON text or msgpack data)."""
        return self._keep(_decode(await self.recv_raw(timeout)))

    async def recv_type(self, *kinds: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Skip messages until one whose ``type`` is in *kinds* (lobby status updates, mostly)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.recv(timeout)
                if isinstance(msg, dict) and msg.get("type") in kinds:
                    if msg["type"] == "matched":
                        self.matched = msg
                    return msg

    async def nothing(self, wait: float = 0.1) -> None:
        """Assert that no message arrives within *wait* seconds (not scaled: it is the check)."""
        with pytest.raises(TimeoutError):
            msg = await self.recv(wait)
            pytest.fail(f"unexpected message {msg!r}")  # pragma: no cover

    async def closed(self, timeout: float = TIMEOUT) -> ws.Closed:
        """Read (and drop) messages until the server closes; return the Closed."""
        return await closed_by_server(self.sock, timeout)

    async def messages_until_closed(self, timeout: float = TIMEOUT) -> tuple[list[Any], ws.Closed]:
        """Every message left before the close, decoded, and the Closed."""
        got: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    got.append(self._keep(_decode(await self.sock)))
        except ws.Closed as exc:
            return got, exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        if not self.sock.closed:
            self.sock.close()
        await asyncio.wait_for(self.sock.wait_closed(), TIMEOUT)


async def close_all(bots: list[Bot]) -> None:
    await asyncio.gather(*(b.aclose() for b in bots))
