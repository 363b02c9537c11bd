"""One way to run a server in a test: ``running(app)`` on 127.0.0.1 with a free port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol
from urllib.parse import quote

import ws

from .timing import TIMEOUT, eventually, scaled

__all__ = ["ZERO", "HasPort", "echo_app", "http_get", "raw_request", "running", "settled", "url"]

ZERO = {"http_connections": 0, "websockets": 0, "tasks": 0}  # what a server holds when idle


class HasPort(Protocol):
    """Anything listening on 127.0.0.1 at ``port``: a ``ws.Server`` or a cluster node."""

    @property
    def port(self) -> int: ...


@contextlib.asynccontextmanager
async def running(app: ws.App, **kwargs: Any) -> AsyncIterator[ws.Server]:
    """Serve *app* on 127.0.0.1 with a free port for the duration of the block.

    On exit the server shuts down and the test checks it left nothing behind.
    Unless the test passes its own ``limits``, games get no drain time
    (``drain_timeout=0``): a test ends with its rooms ended at once, with 1001;
    the tests of the drain itself say how long it is.
    """
    kwargs.setdefault("limits", ws.ServerLimits(drain_timeout=0.0))
    server = await ws.serve(app, "127.0.0.1", 0, **kwargs)
    try:
        yield server
    finally:
        await asyncio.wait_for(server.aclose(), scaled(15))
        assert server.statistics() == ZERO


def url(server: HasPort, path: str = "/", **query: Any) -> str:
    """``ws://127.0.0.1:<port><path>``, with *query* percent-encoded (``mode="5+0"`` stays a plus)."""
    qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
    return f"ws://127.0.0.1:{server.port}{path}" + ("?" + qs if qs else "")


async def raw_request(server: HasPort, data: bytes, *, timeout: float = TIMEOUT) -> bytes:
    """Send raw bytes to the server and read until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def http_get(server: HasPort, path: str) -> tuple[int, bytes]:
    """``GET path`` with ``Connection: close``: the status and the body."""
    raw = await raw_request(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def settled(server: ws.Server, timeout: float = scaled(3)) -> dict[str, int]:
    """Wait (bounded) until the server holds nothing; return its statistics."""
    await eventually(lambda: server.statistics() == ZERO, timeout, interval=0.01)
    return server.statistics()


def echo_app() -> ws.App:
    """An app that echoes every message at ``/echo`` and answers ``hello`` at ``/hello``."""
    app = ws.App()

    @app.route("/echo")
    @ws.endpoint
    async def echo(request: ws.Request, sock: ws.WebSocket) -> None:
        async for msg in sock:
            await sock.send(msg)

    @app.route("/hello")
    async def hello(request: ws.Request) -> str:
        return "hello"

    return app
