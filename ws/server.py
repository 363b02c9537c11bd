"""The HTTP/1.1 server: connections, request dispatch, upgrade and shutdown.

Each TCP connection starts as an :class:`HTTPConnection` (an
``asyncio.Protocol`` feeding the sans-I/O :class:`ws.http11.RequestParser`).  A
WebSocket endpoint upgrades it: the transport is handed to a
:class:`ws.connection.WebSocket`, which becomes the transport's protocol.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl as _ssl
from collections.abc import Callable
from typing import Any

import attrs

from .closecodes import CloseCode
from .connection import Options, WebSocket, recv_buffer
from .exceptions import HTTPError
from .handshake import Negotiated
from .http import Request, Response, to_response
from .http11 import RequestParser, serialize_response
from .protocol import Side
from .reader import MessageReader
from .routing import App
from .socket import MessageSocket
from .upgrade import open_websocket

__all__ = ["Server", "ServerLimits", "Traffic", "serve", "run", "event_loop_factory"]

logger = logging.getLogger("ws.server")

# Returned by upgrading handlers: the connection now belongs to a WebSocket.
UPGRADED = object()

# Loop iterations between the starts of two new requests when they queue up
# (Server._enter): 2 measured lower move latencies than 1 at the same throughput.
_DOOR_SPACING = 2


@attrs.frozen(kw_only=True)
class ServerLimits:
    """Server-wide limits.  ``None`` disables a limit.

    - ``handshake_timeout``: seconds for a client to send a complete request
      (slow or silent clients are dropped);
    - ``keepalive_timeout``: seconds an idle keep-alive connection is kept;
    - ``max_request_line`` / ``max_header_size`` / ``max_headers`` / ``max_body``:
      HTTP parser limits (414, 431, 431, 413 beyond them);
    - ``shutdown_timeout``: seconds ``close()`` waits for handlers before cancelling them;
    - ``drain_timeout``: seconds ``close()`` lets work spawned with ``drain=True``
      (a game of a single process) run on to its end, its sockets open, before
      cancelling it: a deploy does not cut short the games that end meanwhile;
    - ``max_connections`` / ``max_connections_per_ip``: open TCP connections (HTTP
      and WebSocket) in all and from one IP address; over either, 503.
    """

    handshake_timeout: float | None = 10.0
    keepalive_timeout: float | None = 30.0
    max_request_line: int | None = 8192
    max_header_size: int | None = 8192
    max_headers: int | None = 128
    max_body: int | None = 2**20
    shutdown_timeout: float = 10.0
    drain_timeout: float = 30.0
    max_connections: int | None = 10_000
    max_connections_per_ip: int | None = 256


@attrs.frozen(slots=True)
class Traffic:
    """What a server's WebSockets have carried since it started (``Server.traffic()``):
    messages received and sent, and how many connections ended with each close
    code (1006 for one lost without a close).  ``/metrics`` reports it."""

    messages_received: int
    messages_sent: int
    closes: dict[int, int]


class HTTPConnection(asyncio.BufferedProtocol):
    """One TCP connection while it speaks HTTP (before any upgrade).

    A buffered protocol reading into the thread's shared receive buffer, as
    :class:`WebSocket` does: asyncio's ``data_received`` path allocates 256 KiB per read.
    """

    __slots__ = ("server", "transport", "peer", "_parser", "_task", "_timer", "_upgraded", "_closing", "_over_limit", "_idle", "_waiting")

    def __init__(self, server: Server) -> None:
        self.server = server
        # Set by connection_made, which asyncio calls before any other method of ours.
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.peer: Any = None
        limits = server.limits
        self._parser = RequestParser(
            max_line=limits.max_request_line,
            max_headers=limits.max_headers,
            max_header_size=limits.max_header_size,
            max_body=limits.max_body,
        )
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._upgraded = False
        self._closing = False
        self._over_limit = False
        self._idle = False  # kept alive, and no byte of a next request yet
        self._waiting = False  # a complete request waits at the server's door (Server._enter)

    # -------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (a BaseTransport to asyncio)
        self.peer = transport.get_extra_info("peername")
        self.server._connections.add(self)
        self._over_limit = not self.server._admit(self.peer)
        self._arm_timer(self.server.limits.handshake_timeout)

    def get_buffer(self, sizehint: int) -> memoryview:
        return recv_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(recv_buffer()[:nbytes]))

    def data_received(self, data: bytes) -> None:
        self._idle = False
        if self._over_limit:
            # Answer as soon as the client speaks, so it reads a 503, not a reset.
            self._refuse(HTTPError(503, "too many connections", [("Retry-After", "5")]))
            return
        try:
            self._parser.feed(data)
            self._next_request()
        except HTTPError as exc:
            self._refuse(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self.server._release(self.peer)
        self._cancel_timer()
        if self._task is not None and not self._upgraded:
            self._task.cancel()

    # -------------------------------------------------------------- requests

    def _arm_timer(self, timeout: float | None) -> None:
        self._cancel_timer()
        if timeout is not None:
            self._timer = asyncio.get_running_loop().call_later(timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._task is None and not self._upgraded:
            if self._idle:
                # An idle keep-alive connection is closed quietly (RFC 7230 6.5): a 408
                # could cross a request the client is sending and be read as its answer.
                self._closing = True
                self.transport.close()
                return
            # A request that never completes gets 408 (RFC 7231 6.5.7), then the door.
            self._refuse(HTTPError(408, "request timeout"))

    def _next_request(self) -> None:
        if self._task is not None or self._waiting or self._upgraded or self._closing:
            return
        head = self._parser.next_request()
        if head is None:
            return
        self._cancel_timer()
        self.server._enter(self, Request.from_head(head, peer=self.peer, connection=self))

    def _start(self, request: Request) -> None:
        """Handle *request* in a task of its own (the server lets it in)."""
        self._waiting = False
        self._task = self.server._spawn(self._handle(request))

    def _refuse(self, exc: HTTPError) -> None:
        """Answer a request we cannot serve, then close (the stream may be out of sync)."""
        self._cancel_timer()
        if self.transport is None or self.transport.is_closing():
            return
        self._closing = True
        response = Response.error(exc.status, exc.reason or None)
        response.headers.extend(exc.headers)
        self.transport.write(response.serialize(keep_alive=False))
        self.transport.close()

    async def _handle(self, request: Request) -> None:
        try:
            try:
                handler, params = self.server.app.router.resolve(request.method, request.path)
                request.params = params
                result = await handler(request, **params)
            except HTTPError as exc:
                result = Response.error(exc.status, exc.reason or None)
                result.headers.extend(exc.headers)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("error handling %s %s", request.method, request.path)
                result = Response.error(500)
            if self._upgraded or result is UPGRADED:
                return
            response = to_response(result)
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            keep_alive = request.keep_alive and not self.server.closing and response.status < 500
            transport.write(response.serialize(keep_alive=keep_alive, head_only=request.method == "HEAD"))
            if not keep_alive:
                self._closing = True
                transport.close()
                return
        finally:
            self._task = None
        self._idle = True
        self._arm_timer(self.server.limits.keepalive_timeout)
        try:
            self._next_request()  # a pipelined request may be waiting
        except HTTPError as exc:
            self._refuse(exc)

    # -------------------------------------------------------------- upgrade

    def upgrade(
        self,
        request: Request,
        headers: list[tuple[str, str]],
        options: Options,
        negotiated: Negotiated,
    ) -> WebSocket:
        """Answer 101 with *headers* and hand the transport to a new :class:`WebSocket`.

        Raises :class:`asyncio.CancelledError` when the client is already gone.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            raise asyncio.CancelledError()
        self._upgraded = True
        self._cancel_timer()
        self.server._connections.discard(self)
        transport.write(serialize_response(101, headers))
        leftover = self._parser.take_buffer()
        self._parser = None  # type: ignore[assignment]  # not needed any more: free it (nothing reads it after the 101)
        request.headers.compact()  # kept as long as the socket: drop the lookup index
        sock = open_websocket(transport, Side.SERVER, options, negotiated, request=request, leftover=leftover)
        # Registered after the hand-off: the close callbacks run from connection_lost,
        # which the transport never calls inside data_received, so none is missed.
        self.server._sockets.add(sock)
        # One callback for both (a bound method, no closure): fewer objects per socket.
        sock.add_close_callback(self._socket_closed)
        return sock

    def _socket_closed(self, sock: WebSocket) -> None:
        self.server._socket_gone(sock)
        self.server._release(self.peer)


class Server:
    """A running server, from :func:`serve`.

    ``async with server:`` closes it on exit: listening stops, every WebSocket is
    closed with 1001 (going away), handlers get ``shutdown_timeout`` seconds to
    finish and are then cancelled.
    """

    def __init__(self, app: App, limits: ServerLimits) -> None:
        self.app = app
        self.limits = limits
        self.closing = False
        self._server: asyncio.Server | None = None
        self._connections: set[HTTPConnection] = set()
        self._sockets: set[MessageSocket] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._closer: asyncio.Task[Any] | None = None
        self._owned: set[asyncio.Task[Any]] = set()
        self._draining: set[asyncio.Task[Any]] = set()  # owned tasks that may finish first
        self._close_callbacks: dict[Callable[[Server], Any], None] = {}  # (ordered, O(1) removal)
        self._open = 0
        self._per_ip: dict[str, int] = {}
        # What the sockets that are gone carried (the open ones are counted at scrape time).
        self._gone_received = 0
        self._gone_sent = 0
        self._closes: dict[int, int] = {}
        # Requests waiting to be handled, and whether one started in this loop iteration.
        self._door: collections.deque[tuple[HTTPConnection, Request]] = collections.deque()
        self._door_busy = False

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets."""
        return list(self._server.sockets) if self._server is not None else []

    @property
    def port(self) -> int:
        """The port of the first listening socket (handy with port 0)."""
        port: int = self.sockets[0].getsockname()[1]
        return port

    @property
    def websockets(self) -> frozenset[MessageSocket]:
        """The WebSocket connections open right now."""
        return frozenset(self._sockets)

    def statistics(self) -> dict[str, int]:
        """Counts of what this server holds: HTTP connections, WebSockets, tasks."""
        return {
            "http_connections": len(self._connections),
            "websockets": len(self._sockets),
            "tasks": len(self._tasks),
        }

    def traffic(self) -> Traffic:
        """Messages received and sent by this server's WebSockets so far (the open
        ones and those gone), and the close codes of those gone.  Each socket
        counts in plain integers; this adds them up when asked (a scrape), so
        counting costs the message path nothing more than an increment."""
        received, sent = self._gone_received, self._gone_sent
        for sock in self._sockets:
            if isinstance(sock, MessageReader):
                received += sock.messages_received
                sent += sock.messages_sent
        return Traffic(received, sent, dict(self._closes))

    def _socket_gone(self, sock: MessageSocket) -> None:
        """A WebSocket of this server is gone: keep what it carried and its close code."""
        if sock not in self._sockets:
            return
        self._sockets.discard(sock)
        if isinstance(sock, MessageReader):
            self._gone_received += sock.messages_received
            self._gone_sent += sock.messages_sent
        code = sock.close_code
        code = int(CloseCode.ABNORMAL_CLOSURE if code is None else code)
        self._closes[code] = self._closes.get(code, 0) + 1

    def spawn(self, coro: Any, *, drain: bool = False) -> asyncio.Task[Any]:
        """Run *coro* in a task the server owns, for work that outlives one
        connection (a game whose players may reconnect).  On shutdown these tasks
        are cancelled first, while their sockets are still open, so they can tell
        their clients why (then the sockets are closed with 1001).  With *drain*,
        shutdown first waits up to ``limits.drain_timeout`` for the task to end
        by itself (listening has stopped; its sockets stay open meanwhile)."""
        task = self._spawn(coro)
        self._owned.add(task)
        task.add_done_callback(self._owned.discard)
        if drain:
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
        return task

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("unhandled error in a connection task", exc_info=task.exception())

    def _enter(self, conn: HTTPConnection, request: Request) -> None:
        """Handle *request* now, or after the requests already waiting: when they
        queue up, one new request starts every ``_DOOR_SPACING`` loop iterations.

        Each new request (a handshake, a lobby join, a game that starts) is work
        that the connections already open wait behind.  asyncio's loop runs every
        ready callback of an iteration in order, so a burst of new connections made
        every move of every running game wait for all their handshakes; one at a
        time, a move waits for one of them at most, and fewer games run at once
        (as many complete per second).  New connections wait at the door instead
        (docs/performance.md: "Latency on asyncio's loop").
        """
        if self._door_busy:
            conn._waiting = True
            self._door.append((conn, request))
            return
        self._door_busy = True
        asyncio.get_running_loop().call_soon(self._next_in)
        conn._start(request)

    def _next_in(self, turns: int = 1) -> None:
        """Iterations later: start the next request waiting, if any."""
        door = self._door
        if door and turns < _DOOR_SPACING:
            asyncio.get_running_loop().call_soon(self._next_in, turns + 1)
            return
        while door:
            conn, request = door.popleft()
            if conn.transport is not None and not conn.transport.is_closing():
                asyncio.get_running_loop().call_soon(self._next_in)
                conn._start(request)
                return
        self._door_busy = False

    def _admit(self, peer: Any) -> bool:
        """Count a new TCP connection; False if it is over a connection limit."""
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        self._open += 1
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        limits = self.limits
        if limits.max_connections is not None and self._open > limits.max_connections:
            return False
        return limits.max_connections_per_ip is None or self._per_ip[ip] <= limits.max_connections_per_ip

    def _release(self, peer: Any) -> None:
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        self._open -= 1
        left = self._per_ip.get(ip, 1) - 1
        if left > 0:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)

    def _register(self, sock: MessageSocket) -> None:
        self._sockets.add(sock)
        sock.add_close_callback(self._socket_gone)

    async def _start(self, host: str | None, port: int, ssl: _ssl.SSLContext | None, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        if ssl is not None and self.limits.handshake_timeout is not None:
            # The TLS handshake comes before connection_made, so our timer cannot see a
            # silent client; bound it by the same limit instead of asyncio's 60 s.
            kwargs.setdefault("ssl_handshake_timeout", self.limits.handshake_timeout)
        self._server = await loop.create_server(lambda: HTTPConnection(self), host, port, ssl=ssl, **kwargs)

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called (or the task is cancelled)."""
        await self._closed.wait()

    def close(self) -> None:
        """Stop listening and start closing every connection (1001).  Returns at once."""
        if self.closing:
            return
        self.closing = True
        if self._server is not None:
            self._server.close()
        for callback in list(self._close_callbacks):
            try:
                callback(self)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # ws.Closed too (a CancelledError): the others still run, close goes on
                logger.exception("error in a close callback of the server")
        self._close_callbacks.clear()
        for task in list(self._owned - self._draining):
            task.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._finish())

    def add_close_callback(self, callback: Callable[[Server], Any]) -> None:
        """Call ``callback(server)`` once, when :meth:`close` starts (a lobby stops
        matching its waiting players then, while running games drain)."""
        self._close_callbacks[callback] = None

    def remove_close_callback(self, callback: Callable[[Server], Any]) -> None:
        """Forget *callback* (nothing happens if it was not added, or was called)."""
        self._close_callbacks.pop(callback, None)

    async def _finish(self) -> None:
        if self._draining:
            # Graceful drain: the games that end within drain_timeout end as usual.
            await asyncio.wait(set(self._draining), timeout=self.limits.drain_timeout)
            for task in list(self._draining):
                task.cancel()
        if self._owned:
            # Let spawned work (games) react to its cancellation while its
            # sockets are open; bounded, as everything in shutdown.
            await asyncio.wait(set(self._owned), timeout=min(1.0, self.limits.shutdown_timeout))
        for sock in list(self._sockets):
            sock.close(CloseCode.GOING_AWAY, "server shutting down")
        for http in list(self._connections):
            if http._task is None and http.transport is not None:
                http.transport.close()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.limits.shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for sock in list(self._sockets):
            sock.abort()
        for http in list(self._connections):
            if http.transport is not None:
                http.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
        self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` has finished: handlers done, sockets gone."""
        await self._closed.wait()

    async def aclose(self) -> None:
        """``close()`` and ``wait_closed()``."""
        self.close()
        await self.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def serve(
    app: App,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    ssl: _ssl.SSLContext | None = None,
    limits: ServerLimits | None = None,
    **kwargs: Any,
) -> Server:
    """Start serving *app* on *host*:*port* (port 0 picks a free one: ``server.port``).

    *ssl* enables TLS (``wss://``).  Extra keyword arguments go to
    :meth:`asyncio.loop.create_server` (e.g. ``reuse_port``, ``backlog``).
    """
    server = Server(app, limits or ServerLimits())
    await server._start(host, port, ssl, **kwargs)
    return server


def event_loop_factory(uvloop: bool = False) -> Any:
    """The event loop factory for :func:`run`: uvloop's when *uvloop* is true and it
    is installed, else asyncio's default.  uvloop is an option, never a requirement:
    asking for it without it installed logs a warning and uses asyncio's loop."""
    if uvloop:
        try:
            import uvloop as _uvloop
        except ImportError:
            logger.warning("uvloop was asked for but is not installed; using the asyncio event loop")
        else:
            return _uvloop.new_event_loop
    return asyncio.new_event_loop


def run(
    app: App,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    uvloop: bool = False,
    ssl: _ssl.SSLContext | None = None,
    limits: ServerLimits | None = None,
    on_start: Any = None,
    **kwargs: Any,
) -> None:
    """Serve *app* until interrupted (Ctrl-C or SIGTERM), in a new event loop.

    ``uvloop=True`` runs on uvloop when it is installed (see
    :func:`event_loop_factory`).  ``on_start(server)`` is called once the server
    listens.  The other arguments are those of :func:`serve`.
    """
    import signal

    async def main() -> None:
        server = await serve(app, host, port, ssl=ssl, limits=limits, **kwargs)
        loop = asyncio.get_running_loop()
        # Not in a thread other than the main one (RuntimeError from asyncio,
        # ValueError from uvloop), nor on Windows (NotImplementedError).
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, server.close)
        if on_start is not None:
            on_start(server)
        async with server:
            await server.serve_forever()

    with asyncio.Runner(loop_factory=event_loop_factory(uvloop)) as runner:
        with contextlib.suppress(KeyboardInterrupt):
            runner.run(main())
