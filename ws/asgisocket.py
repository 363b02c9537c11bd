"""The ASGI socket: a :class:`ws.MessageSocket` whose frames an ASGI server carries.

Under :func:`ws.asgi` the ASGI server (uvicorn, hypercorn, ...) speaks the
WebSocket protocol: it parses and writes frames, negotiates permessage-deflate,
answers and sends pings, and enforces its own frame and message size limits.
What is left to us is the message stream, which :class:`ASGISocket` presents
as :class:`ws.WebSocket` does: the read side is :class:`ws.MessageReader`'s, fed
by one task calling the ASGI ``receive``; sends are queued at call time and
handed to the ASGI ``send``, in order, by one task.  :class:`ASGIConnection` is
what a request received over ASGI reaches its server and ``ws.accept`` through.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from .connection import Options
from .exceptions import HTTPError, InvalidHandshake
from .frames import check_close_code
from .messages import CloseMessage, DataMessage, TextMessage
from .reader import Closing, RelayedSocket

if TYPE_CHECKING:
    from .http import Request

__all__ = ["ASGISocket", "ASGIConnection"]

logger = logging.getLogger("ws")

Event = dict[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]

_CLOSE = "websocket.close"


class _Sent:
    """What a send returns: the message is queued; awaiting this waits while more
    than ``write_limit`` bytes are queued for the ASGI server (as a ``WebSocket``'s
    waits for its transport's buffer)."""

    __slots__ = ("_sock",)

    def __init__(self, sock: ASGISocket | None) -> None:
        self._sock = sock

    def __await__(self) -> Generator[Any, None, None]:
        sock = self._sock
        while sock is not None and sock.write_paused:
            if sock.disconnected:
                raise sock.closed_error()
            yield from sock._drain_waiter()


_SENT = _Sent(None)


class ASGISocket(RelayedSocket):
    """One WebSocket connection of an ASGI server, as game code sees it.

    The same :class:`ws.MessageSocket` as :class:`ws.WebSocket`: ``await sock``
    gives the next message and raises :class:`ws.Closed` once the connection is
    over; ``text``/``data``/``send`` send at call time; ``close(code, reason)``
    closes with that code.  ``request``, ``subprotocol`` and ``remote_address``
    are as on a ``WebSocket``; ``request.scope`` is the ASGI scope.

    What differs, because the ASGI server owns the protocol: ``ping`` and
    ``pong`` are no-ops (the server keeps the connection alive); a fragmented
    send (an iterable) goes as one message; ``abort`` ends the ASGI application
    without a close, and the server ends the connection its own way;
    ``write_buffer_size`` counts the bytes queued here, not yet taken by the
    server; a message over ``max_message_size`` closes with 1009 after the
    server has received it whole (its own limit bounds that).
    """

    __slots__ = (
        "request",
        "subprotocol",
        "extensions",
        "options",
        "remote_address",
        "_receive",
        "_send",
        "_outbox",
        "_outbox_size",
        "_wake",
        "_paused_input",
        "_resume",
        "_write_paused",
        "_drain_waiters",
        "_close_message",
        "_close_timer",
        "_reader",
        "_writer",
        "_sent",
        "__weakref__",
    )

    def __init__(
        self,
        request: Request,
        receive: Receive,
        send: Send,
        *,
        spawn: Spawn,
        options: Options | None = None,
        subprotocol: str | None = None,
    ) -> None:
        self.options = options = options or Options()
        RelayedSocket.__init__(self, max_queue=options.max_queue)
        self.request = request
        self.subprotocol = subprotocol
        self.extensions: str | None = None  # negotiated by the ASGI server, which does not say
        self.remote_address: Any = request.peer
        self._receive = receive
        self._send = send
        accept: Event = {"type": "websocket.accept", "subprotocol": subprotocol}
        self._outbox: collections.deque[tuple[Event, int]] = collections.deque([(accept, 0)])
        self._outbox_size = 0
        self._wake: asyncio.Future[None] | None = None
        self._paused_input = False
        self._resume: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._close_message: CloseMessage | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._sent = 0  # messages sent, for metrics
        self._writer = spawn(self._write_loop())
        self._reader = spawn(self._read_loop())

    def __repr__(self) -> str:
        state = "closed" if self.disconnected else "closing" if self._closing else "open"
        return f"<ASGISocket {self.request.path} {state} peer={self.remote_address}>"

    # ------------------------------------------------------------------ state

    @property
    def close_message(self) -> CloseMessage | None:
        """The close the peer sent, as the ASGI server reported it (``None`` if none)."""
        return self._close_message

    @property
    def is_server(self) -> bool:
        """Always True: an ASGI application is the server's end."""
        return True

    @property
    def write_paused(self) -> bool:
        """True while more than ``write_limit`` bytes wait for the ASGI server."""
        return self._write_paused

    @property
    def messages_sent(self) -> int:
        """How many messages this socket has sent (queued for the ASGI server)."""
        return self._sent

    def write_buffer_size(self) -> int:
        """Bytes (characters, for text) queued here that the ASGI server has not taken yet."""
        return self._outbox_size

    # ------------------------------------------------------------------ sending

    def _enqueue(self, event: Event, size: int) -> _Sent:
        self._outbox.append((event, size))
        self._outbox_size += size
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        limit = self.options.write_limit
        if limit is not None and self._outbox_size > limit:
            self._write_paused = True
        return _Sent(self) if self._write_paused else _SENT

    def _drain_waiter(self) -> asyncio.Future[None]:
        fut = self._loop.create_future()
        self._drain_waiters.append(fut)
        return fut

    def _release_writers(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # (text, data and send are RelayedSocket's)
    def _send_text(self, text: str) -> _Sent:
        self._sent += 1
        return self._enqueue({"type": "websocket.send", "text": str(text)}, len(text))

    def _send_data(self, payload: bytes) -> _Sent:
        self._sent += 1
        return self._enqueue({"type": "websocket.send", "bytes": payload}, len(payload))

    def ping(self, payload: bytes | str = b"") -> _Sent:
        """A no-op while open: the ASGI server sends the pings and answers them."""
        self._check_writable()
        return _SENT

    pong = ping

    def close(self, code: int = 1000, reason: str = "") -> Closing:
        """Ask the ASGI server to close with *code* and *reason*; awaiting the result
        waits (at most ``close_timeout``) for the end, then raises :class:`ws.Closed`."""
        if not self._closing and not self.disconnected:
            if code != 1005 and not check_close_code(code):
                raise ValueError(f"invalid close code {code}")
            self._closing = True
            self._close_code, self._close_reason = code, reason
            wire_reason = reason.encode()[:123].decode(errors="ignore")
            # An ASGI close always carries a code: "no status" (1005) goes as 1000.
            self._enqueue({"type": _CLOSE, "code": 1000 if code == 1005 else code, "reason": wire_reason}, 0)
            timeout = self.options.close_timeout
            if timeout is not None:
                self._close_timer = self._loop.call_later(timeout, self._gone)
        return Closing(self)

    def abort(self) -> None:
        """End the connection now: nothing more is sent, and the ASGI application
        ends without a close; the server then ends the connection its own way
        (uvicorn closes the TCP connection, hypercorn sends a 1011 close)."""
        if not self.disconnected:
            if self._close_code is None:
                self._close_code = 1006
            self._outbox.clear()
            self._outbox_size = 0
            self._gone()

    # ------------------------------------------------------------------ the two tasks

    async def _write_loop(self) -> None:
        outbox, send = self._outbox, self._send
        try:
            while True:
                if not outbox or self.disconnected:
                    if self.disconnected:
                        return
                    self._wake = self._loop.create_future()
                    try:
                        await self._wake
                    finally:
                        self._wake = None
                    continue
                event, size = outbox[0]
                await send(event)
                if outbox and outbox[0][0] is event:
                    outbox.popleft()
                    self._outbox_size -= size
                if self._write_paused and self._outbox_size <= (self.options.write_limit or 0) // 4:
                    self._release_writers()
                if event["type"] == _CLOSE:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # uvicorn raises ClientDisconnected (an OSError); others their own
            logger.debug("ASGI send failed on %r: %r", self, exc)
            self._lost_abnormally()

    async def _read_loop(self) -> None:
        receive = self._receive
        limit = self.options.max_message_size
        try:
            while True:
                if self._paused_input:
                    self._resume = self._loop.create_future()
                    try:
                        await self._resume
                    finally:
                        self._resume = None
                    continue
                event = await receive()
                kind = event.get("type")
                if kind == "websocket.receive":
                    text = event.get("text")
                    msg = TextMessage(text) if text is not None else DataMessage(event.get("bytes") or b"")
                    if limit is not None and _size(msg) > limit:
                        logger.info("closing %r: message over max_message_size (%d)", self, limit)
                        self.close(1009, "message too big")
                    elif not self.disconnected:
                        self._deliver((msg,))
                elif kind == "websocket.disconnect":
                    self._disconnected(event)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("ASGI receive failed on %r: %r", self, exc)
            self._lost_abnormally()

    def _pause_source(self) -> None:
        self._paused_input = True  # the read loop stops calling receive: the server stops reading

    def _resume_source(self) -> None:
        self._paused_input = False
        resume = self._resume
        if resume is not None and not resume.done():
            resume.set_result(None)

    # ------------------------------------------------------------------ the end

    def _disconnected(self, event: Event) -> None:
        """The ASGI server says the connection is over (after the peer's close,
        after ours, or when it was lost)."""
        if not self._closing and self._close_code is None:
            code = int(event.get("code", 1005))
            reason = str(event.get("reason") or "")
            if code == 1005 and "reason" not in event:
                # uvicorn reports a lost connection as 1005 without a reason, a close
                # frame without a code with one: the first is 1006 (RFC 6455 7.1.5).
                code = 1006
            self._close_code, self._close_reason = code, reason
            if code != 1006:
                self._close_message = CloseMessage.build(code, reason)
        self._gone()

    def _lost_abnormally(self) -> None:
        if not self.disconnected:
            if self._close_code is None:
                self._close_code = 1006
            self._gone()

    def _gone(self) -> None:
        """The connection is over: wake everyone, stop reading, let the writer end."""
        if self.disconnected:
            return
        if self._close_code is None:
            self._close_code = 1006
        timer = self._close_timer
        if timer is not None:
            timer.cancel()
            self._close_timer = None
        self._connection_gone()
        self._release_writers()
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        reader = self._reader
        if reader is not asyncio.current_task() and not reader.done():
            reader.cancel()

    async def finish(self) -> None:
        """Once the application is done with the connection: give the writer
        ``close_timeout`` (at most) to hand what it holds, a close in flight
        included, to the server; then end the connection if it is still open
        (``abort``) and stop both tasks."""
        writer = self._writer
        if not writer.done() and self._closing:
            timeout = self.options.close_timeout
            await asyncio.wait([writer], timeout=1.0 if timeout is None else timeout)
        self.abort()
        for task in (self._writer, self._reader):
            if not task.done():
                task.cancel()


def _size(msg: str | bytes) -> int:
    """The size in bytes of a message (text as UTF-8, encoded only when it matters)."""
    if isinstance(msg, str):
        return len(msg.encode()) if not msg.isascii() else len(msg)
    return len(msg)


class ASGIConnection:
    """One ASGI connection scope, as the request received on it reaches its
    server (``request.server``) and ``ws.accept`` reaches the ASGI server."""

    __slots__ = ("server", "scope", "socket", "_receive", "_send", "_spawn", "_register")

    def __init__(
        self,
        server: Any,
        scope: Event,
        receive: Receive,
        send: Send,
        *,
        spawn: Spawn,
        register: Callable[[ASGISocket], None],
    ) -> None:
        self.server = server
        self.scope = scope
        self.socket: ASGISocket | None = None
        self._receive = receive
        self._send = send
        self._spawn = spawn
        self._register = register

    @property
    def is_websocket(self) -> bool:
        """True for a ``websocket`` scope (an upgrade the ASGI server has validated)."""
        return self.scope.get("type") == "websocket"

    def accept(self, request: Request, options: Options, subprotocol: str | None = None) -> ASGISocket:
        """Accept the WebSocket (the ASGI ``websocket.accept`` goes first in the
        socket's queue) and return its socket.  Raises :class:`ws.HTTPError` 503
        while the server shuts down, and 400 on an ``http`` scope."""
        if not self.is_websocket:
            raise InvalidHandshake(400, "the ASGI server passed this request as plain HTTP")
        if self.socket is not None:
            raise RuntimeError("this connection is already accepted")
        if self.server.closing:
            raise HTTPError(503, "server shutting down")
        sock = self.socket = ASGISocket(request, self._receive, self._send, spawn=self._spawn, options=options, subprotocol=subprotocol)
        self._register(sock)
        return sock
