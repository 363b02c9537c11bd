"""Shared test helpers: a real server on 127.0.0.1 with a free port, and clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

import ws


@contextlib.asynccontextmanager
async def running(app: ws.App, **kwargs) -> AsyncIterator[ws.Server]:
    """Serve *app* on 127.0.0.1 with a free port for the duration of the block.

    On exit the server shuts down and the test checks it left nothing behind.
    """
    server = await ws.serve(app, "127.0.0.1", 0, **kwargs)
    try:
        yield server
    finally:
        await asyncio.wait_for(server.aclose(), 15)
        assert server.statistics() == {"http_connections": 0, "websockets": 0, "tasks": 0}


def url(server: ws.Server, path: str = "/") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def raw_request(server: ws.Server, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes to the server and read until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


@pytest.fixture
def echo_app() -> ws.App:
    """An app with an echo endpoint at /echo (compression on)."""
    app = ws.App()

    @app.route("/echo")
    @ws.endpoint
    async def echo(request, sock):
        async for msg in sock:
            await sock.send(msg)

    return app
