"""``ws.asgi(app)``: a :class:`ws.App` as an ASGI 3 application.

Every route of the app is served: WebSocket routes (``ws.endpoint``,
``ws.aggregate``, ``rooms.Lobby``, anything calling ``ws.accept``) over the
ASGI ``websocket`` scope, the others and static files over ``http``, and the
``lifespan`` scope starts and stops what the app needs.  Handlers run
unchanged: a request's ``server`` is an :class:`ASGIServer`, a
:class:`ws.Server` that listens nowhere (the ASGI server does) but owns tasks
(``spawn``), sockets and shutdown as ours does; ``ws.accept`` returns an
:class:`ws.ASGISocket`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from .asgisocket import ASGIConnection, Event, Receive, Send
from .exceptions import HTTPError
from .http import Request, Response, to_response
from .routing import App
from .server import UPGRADED, Server, ServerLimits

__all__ = ["ASGIApp", "ASGIServer", "asgi"]

logger = logging.getLogger("ws.asgi")


class ASGIServer(Server):
    """The server of an ASGI application: what ``request.server`` is under ASGI.

    A :class:`ws.Server` without a listening socket: ``spawn``, ``closing``,
    ``websockets``, ``statistics`` and ``close`` work as on a server from
    :func:`ws.serve` (closing cancels the spawned work first, then closes every
    WebSocket with 1001); ``port`` and ``sockets`` belong to the ASGI server.
    """

    @property
    def port(self) -> int:
        raise RuntimeError("an ASGI application does not listen: its ASGI server has the port")

    def connection(self, scope: Event, receive: Receive, send: Send) -> ASGIConnection:
        """The connection object of one ASGI scope: its sockets and their tasks are this server's."""
        return ASGIConnection(self, scope, receive, send, spawn=self._spawn, register=self._register)

    def handle(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a request's handler in a task of this server, as ``ws.serve`` runs
        each request's: shutdown waits ``shutdown_timeout`` for it, then cancels it."""
        return self._spawn(coro)


class ASGIApp:
    """An ASGI 3 application serving a :class:`ws.App`; see :func:`asgi`.

    ``startup()`` and ``shutdown()`` are what the lifespan scope runs;
    ``lifespan`` is the same pair as a host framework's lifespan context
    (``FastAPI(lifespan=games.lifespan)``), for a mounted app, which its host
    does not send a lifespan scope.  Without either, the server is made on the
    first request and backends start lazily, as under :func:`ws.serve`.
    """

    def __init__(self, app: App, *, limits: ServerLimits | None = None) -> None:
        self.app = app
        self.limits = limits or ServerLimits()
        self._server: ASGIServer | None = None
        self._started: ASGIServer | None = None

    @property
    def server(self) -> ASGIServer | None:
        """The :class:`ASGIServer` of the current run (``None`` before the first request or startup)."""
        return self._server

    def _current(self) -> ASGIServer:
        server = self._server
        if server is None:
            server = self._server = ASGIServer(self.app, self.limits)
        return server

    # ------------------------------------------------------------------ lifecycle

    async def startup(self) -> ASGIServer:
        """Make the server of a new run and call ``await handler.startup(server)`` on
        each route handler that has such a method (a ``rooms.Lobby`` starts its
        backend: a Redis backend connects and joins its cluster).  Idempotent."""
        server = self._server
        if server is None or server.closing:
            server = self._server = ASGIServer(self.app, self.limits)
        if self._started is not server:
            self._started = server
            for handler in self.app.router.handlers():
                hook = getattr(handler, "startup", None)
                if callable(hook):
                    result = hook(server)
                    if inspect.isawaitable(result):
                        await result
        return server

    async def shutdown(self) -> None:
        """Close the server as :meth:`ws.Server.aclose` does: spawned work (games,
        a backend's tasks) is cancelled first, then every WebSocket closes with 1001,
        handlers get ``limits.shutdown_timeout`` seconds, the rest is aborted."""
        server = self._server
        if server is not None:
            await server.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, host: Any = None) -> AsyncIterator[None]:
        """``startup()`` on entry and ``shutdown()`` on exit; *host* (the host
        framework passes its app) is ignored."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Event, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("ASGI lifespan startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    logger.exception("ASGI lifespan shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, server: ASGIServer, request: Request, conn: ASGIConnection) -> Any:
        """The handler's result, from a task the server owns (see ``ASGIServer.handle``).

        Cancelled by our shutdown, it answers 503 (a socket it opened is closed by
        then).  When the ASGI server cancels the connection instead (hypercorn at its
        shutdown, uvicorn past its graceful timeout), its socket is closed with 1001
        first, as a ``ws.Server`` closes its sockets before cancelling handlers."""
        task = server.handle(self._dispatch(request))
        try:
            await asyncio.wait([task])  # (awaiting the task itself would cancel it with us)
        except asyncio.CancelledError:
            sock = conn.socket
            if sock is not None and not sock.closed:
                sock.close(1001, "going away")
            task.cancel()
            raise
        if task.cancelled():
            return Response.error(503, "server shutting down")
        return task.result()

    async def _dispatch(self, request: Request) -> Any:
        """The handler's result, or the error response a ws.Server would send."""
        try:
            handler, params = self.app.router.resolve(request.method, request.path)
            request.params = params
            return await handler(request, **params)
        except HTTPError as exc:
            response = Response.error(exc.status, exc.reason or None)
            response.headers.extend(exc.headers)
            return response
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("error handling %s %s", request.method, request.path)
            return Response.error(500)

    async def _http(self, scope: Event, receive: Receive, send: Send) -> None:
        server = self._current()
        body = bytearray()
        max_body = self.limits.max_body
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return
            body += message.get("body", b"")
            if max_body is not None and len(body) > max_body:
                await _respond(send, Response.error(413, "request body too large"), head_only=False)
                return
            if not message.get("more_body", False):
                break
        conn = server.connection(scope, receive, send)
        request = Request.from_scope(scope, bytes(body), conn)
        result = await self._handle(server, request, conn)
        if result is UPGRADED:  # (ws.accept refuses an http scope, so only a handler's own doing)
            result = Response.error(500)
        await _respond(send, to_response(result), head_only=request.method == "HEAD")

    async def _websocket(self, scope: Event, receive: Receive, send: Send) -> None:
        server = self._current()
        if (await receive()).get("type") != "websocket.connect":
            return
        conn = server.connection(scope, receive, send)
        request = Request.from_scope(scope, b"", conn)
        try:
            result = await self._handle(server, request, conn)
            sock = conn.socket
            if sock is None:
                await _deny(scope, send, to_response(None if result is UPGRADED else result))
                await _until_disconnect(receive)
                return
            # The handler is done with the connection; whatever holds the socket
            # now (a room, a set of clients) keeps it open until it closes.
            await sock.wait_closed()
        except BaseException:
            sock = conn.socket
            if sock is not None:  # the ASGI server cancels us: _handle closed it with 1001
                await sock.finish()
            raise
        await sock.finish()


async def _respond(send: Send, response: Response, *, head_only: bool) -> None:
    """Send *response* on an ``http`` scope (``Content-Length`` added when missing)."""
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    status = response.status
    if status >= 200 and status not in (204, 304) and not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else response.body})


async def _deny(scope: Event, send: Send, response: Response) -> None:
    """Refuse a WebSocket before accepting it: with *response* itself where the
    server has the ``websocket.http.response`` extension (uvicorn and hypercorn
    do), else with a close, which the server answers with 403."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008, "reason": ""})
        return
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    await send({"type": "websocket.http.response.start", "status": response.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": response.body})


async def _until_disconnect(receive: Receive, timeout: float = 1.0) -> None:
    """After a refusal, wait (briefly) for the server to report the end of the
    connection: uvicorn's default implementation logs an error for an application
    that returns before it has noticed the connection close."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while (await receive()).get("type") != "websocket.disconnect":
                pass
            await asyncio.sleep(0)  # (its connection_lost runs in this iteration)


def asgi(app: App, *, limits: ServerLimits | None = None) -> ASGIApp:
    """An ASGI 3 application serving every route of *app* (see :class:`ASGIApp`).

    ``uvicorn module:asgi_app`` serves it alone; ``host.mount("/games",
    ws.asgi(games))`` serves it inside a FastAPI or Starlette app, where a
    handler finds what the host knows in ``request.scope`` (``user``,
    ``session``).  Of *limits*, ``max_body`` and ``shutdown_timeout`` apply;
    the others are the ASGI server's business.
    """
    return ASGIApp(app, limits=limits)
