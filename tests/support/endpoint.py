"""One endpoint fixture: an app running a test's ``body(sock)`` server-side, and
the helpers that read what it returned and how the client was closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import pytest

import ws

from .timing import scaled

__all__ = ["close_client", "close_quietly", "closed_by_server", "endpoint_app", "raised", "returned"]

Outcome: TypeAlias = "asyncio.Future[tuple[str, Any]]"  # ("returned", value) or ("raised", exc)


def endpoint_app(body: Callable[..., Awaitable[Any]], path: str = "/", **options: Any) -> tuple[ws.App, Outcome]:
    """An app running ``body(sock, **route_args)`` in an endpoint at *path*.

    The returned future gets ``("returned", value)`` or ``("raised", exc)``: an
    assertion failing inside the handler would only become a 1011 otherwise.
    """
    outcome = asyncio.get_running_loop().create_future()

    async def handler(request: ws.Request, sock: ws.WebSocket, **params: Any) -> None:
        try:
            value = await body(sock, **params)
        except BaseException as exc:
            if not outcome.done():
                outcome.set_result(("raised", exc))
            raise
        if not outcome.done():
            outcome.set_result(("returned", value))

    app = ws.App()
    app.route(path)(ws.endpoint(**options)(handler))
    return app, outcome


async def returned(outcome: Awaitable[tuple[str, Any]], timeout: float = scaled(3)) -> Any:
    """The value the handler returned (the test fails if it raised)."""
    kind, value = await asyncio.wait_for(outcome, timeout)
    assert kind == "returned", f"handler raised {value!r}"
    return value


async def raised(outcome: Awaitable[tuple[str, Any]], timeout: float = scaled(3)) -> BaseException:
    """The exception the handler raised (the test fails if it returned)."""
    kind, value = await asyncio.wait_for(outcome, timeout)
    assert kind == "raised", f"handler returned {value!r}"
    return value


async def closed_by_server(client: ws.WebSocket, timeout: float = scaled(3)) -> ws.Closed:
    """Read (and drop) from *client* until the connection closes; return the Closed."""
    with pytest.raises(ws.Closed) as info:
        async with asyncio.timeout(timeout):
            while True:
                await client
    return info.value


async def close_client(client: ws.WebSocket, code: int = 1000, reason: str = "") -> None:
    """Close a ws.connect client without the Closed that awaiting close() raises."""
    client.close(code, reason)
    await asyncio.wait_for(client.wait_closed(), scaled(3))


async def close_quietly(sock: ws.WebSocket, code: int = 1000, reason: str = "") -> None:
    """Close and wait for the closing handshake, expecting the Closed that awaiting close() raises."""
    with pytest.raises(ws.Closed):
        await asyncio.wait_for(sock.close(code, reason), scaled(5))
