"""The asyncio shell around :class:`ws.protocol.Connection`: the seed's ``WebSocket``.

A ``WebSocket`` is itself the :class:`asyncio.Protocol` of its transport once the
opening handshake is done, so bytes go from ``data_received`` straight into the
sans-I/O core with no forwarding layer.  A message reaches a waiting reader by
resolving one future; no task runs per connection or per message.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .exceptions import Closed
from .frames import Opcode, frame_header
from .messages import Message
from .protocol import Connection, State

if TYPE_CHECKING:
    from .http import Request
    from .mux import Mux

__all__ = ["WebSocket", "MessageReader", "Options", "broadcast"]

_OPEN, _CLOSED = State.OPEN, State.CLOSED  # module globals are faster to read (see ws.protocol)

logger = logging.getLogger("ws")


@attrs.frozen(kw_only=True)
class Options:
    """Per-connection settings.  Every limit has a bounded default; ``None`` disables it.

    - ``max_message_size``: bytes in one message after decompression (close 1009 over it).
    - ``max_frame_size``: bytes in one frame (defaults to ``max_message_size``).
    - ``max_queue``: received messages buffered before we stop reading from the socket.
    - ``write_limit``: bytes buffered for writing before ``await sock.text(...)`` waits
      (``None``: never wait, the buffer is unbounded).
    - ``ping_interval`` / ``ping_timeout``: keepalive; a peer that does not answer a
      ping within ``ping_timeout`` seconds is cut off (close 1011).
    - ``close_timeout``: seconds to wait for the peer's side of the closing handshake.
    - ``receive_pongs``: deliver pong messages to the reader (the seed's ``is_pong``).
    """

    max_message_size: int | None = 2**20
    max_frame_size: int | None = None
    max_queue: int | None = 32
    write_limit: int | None = 2**16
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float | None = 10.0
    receive_pongs: bool = False


class _Sent:
    """What ``text``/``data``/``ping``/``pong`` return: the frame is already written;
    awaiting this waits until the write buffer is below its high-water mark.  Not a
    coroutine, so a forgotten ``await`` sends all the same and never warns.

    A write that left the buffer below the mark returns the shared ``_SENT``, which
    has nothing to wait for: most sends then allocate no awaitable at all.
    """

    __slots__ = ("_sock",)

    def __init__(self, sock: WebSocket | None) -> None:
        self._sock = sock

    def __await__(self):
        sock = self._sock
        if sock is None or not sock._write_paused:
            return iter(())  # the usual case: nothing to wait for, and no generator to make
        return self._wait()

    def _wait(self):
        sock = self._sock
        while sock._write_paused:
            if sock._lost:
                raise sock._closed_error()
            fut = sock._loop.create_future()
            sock._drain_waiters.append(fut)
            yield from fut
        return None


_SENT = _Sent(None)


class _Closing:
    """What ``close`` returns: awaiting it waits for the closing handshake and then
    raises :class:`Closed` in the awaiting task, as the seed's ``close`` does."""

    __slots__ = ("_sock",)

    def __init__(self, sock: WebSocket) -> None:
        self._sock = sock

    def __await__(self):
        sock = self._sock
        if not sock._lost:
            fut = sock._loop.create_future()
            sock._lost_waiters.append(fut)
            yield from fut
        raise sock._closed_error()


class _RecvBuffer(threading.local):
    """One receive buffer per thread, shared by every connection of that thread's loop.

    The transport calls ``get_buffer``, ``recv_into`` and ``buffer_updated`` in one go,
    and the parser copies out whatever it keeps, so the buffer is free again when
    ``buffer_updated`` returns.  Reading with ``data_received`` instead would make
    asyncio allocate (and free) a 256 KiB ``bytes`` for every read, which costs more
    than the read itself (about 20 us against 4 us on a small message).
    """

    def __init__(self) -> None:
        self.view = memoryview(bytearray(RECV_BUFFER_SIZE))


RECV_BUFFER_SIZE = 256 * 1024
_NO_QUEUE: tuple[()] = ()  # a socket's message queue until its first message
# Replies held back while a backlog is handled: frames up to this size, this many.
_COALESCE_FRAME = 4096
_COALESCE_COUNT = 64
# Messages from this size on are not copied whole behind their header where the
# transport can send the two pieces as they are (see _send_large) ...
_LARGE = 16 * 1024
# ... and, where it cannot, from this size on they go as two writes: a second write
# costs less than the copy.
_WRITE_APART = 256 * 1024
_recv_buffer = _RecvBuffer()


def recv_buffer() -> memoryview:
    """This thread's shared receive buffer (see :class:`_RecvBuffer`)."""
    return _recv_buffer.view


class MessageReader:
    """The reading half of a socket (``await sock``, ``async for``, ``mux``) and
    its close notifications (``add_close_callback``, ``wait_closed``).

    Shared by :class:`WebSocket` and by sockets that are not a TCP connection of
    this process (the Redis backend's remote players).  A subclass provides
    ``_queue``, ``_waiter``, ``_mux``, ``_lost``, ``_conn`` (for its state),
    ``_loop``, ``_on_close``, ``_lost_waiters``, ``_take_ready()`` and
    ``_closed_error()``.
    """

    __slots__ = ()

    def __await__(self):
        """``await sock``: the next message, or :class:`Closed`."""
        if self._mux is not None:
            self._mux._detach(self)
        while True:
            queue = self._queue  # (created by the first message: read it again after a wait)
            if queue:
                return queue.popleft() if not self._reading_paused else self._take_ready()
            if self._lost or self._conn.state is _CLOSED:
                raise self._closed_error()
            if self._waiter is not None:
                # One waiter per socket: a second one would replace the first, which
                # would then never wake, not even on disconnect.
                raise RuntimeError("another task is already waiting for a message on this WebSocket")
            fut = self._loop.create_future()
            self._waiter = fut
            try:
                yield from fut
            finally:
                self._waiter = None

    def recv(self) -> MessageReader:
        """Same as ``await sock``; ``await sock.recv()`` reads well in some code."""
        return self

    def __aiter__(self) -> MessageReader:
        return self

    def __anext__(self) -> MessageReader:
        # The next message; a closed connection raises Closed (a cancellation),
        # not StopAsyncIteration: a disconnect is never mistaken for a normal end.
        return self

    def mux(self, *others: MessageReader) -> Mux:
        """Read from this socket and *others* at once; see :func:`ws.mux`."""
        from .mux import Mux

        return Mux(self, *others)

    # -------------------------------------------------------------- close notifications

    def add_close_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(sock)`` once, when the connection is gone."""
        if self._lost:
            self._loop.call_soon(callback, self)
        else:
            self._on_close.append(callback)

    def remove_close_callback(self, callback: Callable[[Any], None]) -> None:
        try:
            self._on_close.remove(callback)
        except ValueError:
            pass

    async def wait_closed(self) -> None:
        """Wait until the connection is gone (without raising)."""
        if not self._lost:
            fut = self._loop.create_future()
            self._lost_waiters.append(fut)
            await asyncio.shield(fut)


class WebSocket(asyncio.BufferedProtocol, MessageReader):
    """One WebSocket connection, as game code sees it.

    ``await sock`` (or ``async for msg in sock``) gives the next message; when the
    connection closes it raises :class:`ws.Closed`.  ``text``, ``data``, ``ping``
    and ``pong`` write at call time.  ``request`` is the HTTP request that opened
    the connection (server side), ``subprotocol`` the negotiated subprotocol.
    """

    __slots__ = (
        "_conn",
        "_loop",
        "transport",
        "request",
        "subprotocol",
        "extensions",
        "options",
        "remote_address",
        "_queue",
        "_waiter",
        "_mux",
        "_lost",
        "_reading_paused",
        "_write_paused",
        "_drain_waiters",
        "_lost_waiters",
        "_close_timer",
        "_ping_timer",
        "_pong_timer",
        "_ping_payload",
        "_on_close",
        "_is_server",
        "_rbuf",
        "_pending",
        "__weakref__",
    )

    def __init__(
        self,
        conn: Connection,
        *,
        options: Options | None = None,
        request: Request | None = None,
        subprotocol: str | None = None,
        extensions: str | None = None,
        is_server: bool = True,
    ) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.request = request
        self.subprotocol = subprotocol
        self.extensions = extensions
        self.options = options or Options()
        self.remote_address: Any = None
        # Created on the first message: an empty deque costs 600+ bytes, and an idle
        # connection (a player waiting in a lobby) may never receive one.
        self._queue: collections.deque[Message] | tuple[()] = _NO_QUEUE
        self._waiter: asyncio.Future | None = None
        self._mux: Mux | None = None
        self._lost = False
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._lost_waiters: list[asyncio.Future] = []
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._on_close: list[Callable[[WebSocket], None]] = []
        self._is_server = is_server
        self._rbuf: memoryview | None = None
        self._pending: list[bytes] | None = None  # small frames held back, see _send

    def __repr__(self) -> str:
        path = self.request.path if self.request is not None else ""
        return f"<WebSocket {path} {self._conn.state.value} peer={self.remote_address}>"

    # ------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        """True once no more messages can be sent (closing or closed)."""
        return self._lost or self._conn.state is not _OPEN

    @property
    def close_code(self) -> int | None:
        """The close code, once the connection has started closing."""
        return self._conn.close_code

    @property
    def close_reason(self) -> str:
        return self._conn.close_reason

    def _closed_error(self) -> Closed:
        conn = self._conn
        code = conn.close_code if conn.close_code is not None else 1006
        return Closed(conn.close_received, code=code, reason=conn.close_reason, socket=self)


    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        limit = self.options.write_limit
        # None disables the limit, as for every other one: writing never pauses.
        transport.set_write_buffer_limits(high=sys.maxsize if limit is None else limit)  # type: ignore[attr-defined]
        if self.remote_address is None:
            self.remote_address = transport.get_extra_info("peername")
        if self.options.ping_interval is not None:
            self._ping_timer = self._loop.call_later(self.options.ping_interval, self._keepalive)

    def get_buffer(self, sizehint: int) -> memoryview:
        rbuf = self._rbuf
        if rbuf is None:
            rbuf = self._rbuf = recv_buffer()
        return rbuf

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rbuf[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        # *data* may be a view of the shared receive buffer: the core copies what it keeps.
        conn = self._conn
        events = conn.receive_data(data)
        if conn.outgoing:
            self._write(b"".join(conn.data_to_send()))
        if events:
            mux = self._mux
            queue = self._queue
            if queue is _NO_QUEUE:
                queue = self._queue = collections.deque()
            for msg in events:
                if msg.is_text or msg.is_data:
                    pass
                elif msg.is_pong:
                    if msg == self._ping_payload:
                        self._pong_received()
                    if not self.options.receive_pongs:
                        continue
                else:
                    continue  # pings are answered by the core; the close is handled below
                queue.append(msg)
                if mux is not None:
                    mux._ready(self)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
            max_queue = self.options.max_queue
            if max_queue is not None and len(queue) >= max_queue and not self._reading_paused:
                self._reading_paused = True
                self.transport.pause_reading()
        if conn.state is _CLOSED:
            self._handshake_done()
        elif conn.failure is not None:
            logger.info("closing %r: %s", self, conn.failure)
            if self._is_server:
                # RFC 6455 7.1.7: after failing the connection we MUST NOT process more
                # data, so the peer's close frame would be ignored: the server closes
                # the TCP connection now rather than waiting out close_timeout.
                self.transport.close()
            # close() waits for the write buffer to drain: a peer that does not
            # read would keep the socket forever, so close_timeout aborts it.
            self._start_close_timer()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn.receive_eof()
        self._lost = True
        for handle in (self._close_timer, self._ping_timer, self._pong_timer):
            if handle is not None:
                handle.cancel()
        self._close_timer = self._ping_timer = self._pong_timer = None
        self._wake_reader()
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()
        for fut in self._lost_waiters:
            if not fut.done():
                fut.set_result(None)
        self._lost_waiters.clear()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("error in close callback of %r", self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # ------------------------------------------------------------------ closing machinery

    def _wake_reader(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._mux is not None:
            self._mux._ready(self)

    def _handshake_done(self) -> None:
        """Both close frames have been exchanged (RFC 6455 7.1.2)."""
        self._wake_reader()
        if self._is_server:
            # RFC 6455 7.1.1: the server closes the TCP connection first.
            self.transport.close()
        # The client waits for the server to close the TCP connection; the server
        # for its buffer to drain.  Either way close_timeout bounds the wait.
        self._start_close_timer()

    def _start_close_timer(self) -> None:
        if self._close_timer is None and not self._lost:
            timeout = self.options.close_timeout
            if timeout is not None:
                self._close_timer = self._loop.call_later(timeout, self._abort)

    def _abort(self) -> None:
        self._close_timer = None
        if self.transport is not None and not self._lost:
            self.transport.abort()

    def _keepalive(self) -> None:
        self._ping_timer = None
        if self._lost or self._conn.state is not _OPEN:
            return
        if self._ping_payload is None:
            self._ping_payload = os.urandom(4)
            self._write(self._conn.send_ping(self._ping_payload))
            if self.options.ping_timeout is not None:
                self._pong_timer = self._loop.call_later(self.options.ping_timeout, self._pong_missing)
        self._ping_timer = self._loop.call_later(self.options.ping_interval, self._keepalive)

    def _pong_received(self) -> None:
        self._ping_payload = None
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None

    def _pong_missing(self) -> None:
        self._pong_timer = None
        logger.info("keepalive ping timeout on %r", self)
        if self._conn.state is _OPEN:
            self._write(self._conn.send_close(1011, "keepalive ping timeout"))
        self._abort()

    # ------------------------------------------------------------------ receiving

    def _take_ready(self) -> Message | None:
        """The next queued message (None if there is none), resuming reads once the
        queue is down to half of ``max_queue``.  The mux reads through this too."""
        queue = self._queue
        if queue:
            msg = queue.popleft()
            if self._reading_paused and len(queue) <= (self.options.max_queue or 0) // 2:
                self._reading_paused = False
                if not self._lost:
                    self.transport.resume_reading()
            return msg
        return None

    # ------------------------------------------------------------------ sending

    def _send(self, frame: bytes) -> None:
        """Write a data frame, or hold a small one back while a backlog is handled.

        When more received messages are already queued, the handler will go on to the
        next one without yielding to the event loop, and its replies can share one
        ``write`` (one system call) instead of one each: the frame joins ``_pending``,
        which is written with the first reply sent with no backlog left, by any other
        write, or at the latest in the event loop's next iteration (``call_soon``).
        """
        pending = self._pending
        if self._queue and len(frame) <= _COALESCE_FRAME:
            if pending is None:
                self._pending = [frame]
                self._loop.call_soon(self._flush)
                return
            if len(pending) < _COALESCE_COUNT:
                pending.append(frame)
                return
        if pending is not None:
            self._pending = None
            pending.append(frame)
            frame = b"".join(pending)
        self.transport.write(frame)

    def _write(self, data: bytes) -> None:
        """Write *data* after any frames held back (see :meth:`_send`)."""
        if self._pending is not None:
            self._flush()
        self.transport.write(data)

    def _send_large(self, message: str | bytes | bytearray | memoryview) -> None:
        """Write a message of ``_LARGE`` bytes or more without copying its payload
        behind its header where that can be avoided.

        uvloop's transports, TLS and asyncio's from Python 3.12 on send the pieces given
        to ``writelines`` as they are (one vectored write).  asyncio's plain socket
        transport before 3.12 joins them, a copy: there a very large message goes as
        two writes, its payload as a view, so that asyncio copies only what the socket
        does not take at once; a smaller one is joined once here.
        """
        conn, transport = self._conn, self.transport
        joins = type(transport).writelines is asyncio.WriteTransport.writelines
        if joins and len(message) < _WRITE_APART:
            self._write(conn.send_text(message) if isinstance(message, str) else conn.send_data(message))
            return
        header, payload = conn.send_parts(message)
        if self._pending is not None:
            self._flush()
        if joins:
            transport.write(header)
            transport.write(memoryview(payload))
        else:
            transport.writelines((header, payload))

    def _flush(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            if not self._lost:
                self.transport.write(b"".join(pending))

    def _check_writable(self) -> None:
        if self._lost or self._conn.state is not _OPEN:
            raise self._closed_error()

    def text(self, message: str | Iterable[str]) -> _Sent:
        """Send a text message (an iterable of strings sends one fragmented message)."""
        conn = self._conn
        if self._lost or conn.state is not _OPEN:
            raise self._closed_error()
        if isinstance(message, str):
            if len(message) < _LARGE:
                self._send(conn.send_text(message))
            else:
                self._send_large(message)
        else:
            self._write(self._conn.send_fragments(Opcode.TEXT, [m.encode() for m in message]))
        return _Sent(self) if self._write_paused else _SENT

    def data(self, message: bytes | bytearray | memoryview | Iterable[bytes]) -> _Sent:
        """Send a binary message (an iterable of bytes sends one fragmented message)."""
        conn = self._conn
        if self._lost or conn.state is not _OPEN:
            raise self._closed_error()
        if isinstance(message, (bytes, bytearray, memoryview)):
            if len(message) < _LARGE:
                self._send(conn.send_data(message))
            else:
                self._send_large(message)
        else:
            self._write(self._conn.send_fragments(Opcode.BINARY, [bytes(m) for m in message]))
        return _Sent(self) if self._write_paused else _SENT

    def send(self, message: str | bytes) -> _Sent:
        """``text`` for a ``str``, ``data`` for bytes."""
        conn = self._conn
        if isinstance(message, str) and len(message) < _LARGE and not self._lost and conn.state is _OPEN:
            self._send(conn.send_text(message))  # the common case, one call shorter
            return _Sent(self) if self._write_paused else _SENT
        return self.text(message) if isinstance(message, str) else self.data(message)

    def ping(self, payload: bytes | str = b"") -> _Sent:
        """Send a ping (at most 125 bytes)."""
        self._check_writable()
        if isinstance(payload, str):
            payload = payload.encode()
        self._write(self._conn.send_ping(payload))
        return _Sent(self) if self._write_paused else _SENT

    def pong(self, payload: bytes | str = b"") -> _Sent:
        """Send an unsolicited pong; pings are answered automatically."""
        self._check_writable()
        if isinstance(payload, str):
            payload = payload.encode()
        self._write(self._conn.send_pong(payload))
        return _Sent(self) if self._write_paused else _SENT

    def close(self, code: int = 1000, reason: str = "") -> _Closing:
        """Start the closing handshake now; awaiting the result waits for it to end
        (at most ``close_timeout``) and then raises :class:`Closed` in the caller."""
        if not self._lost and self._conn.state is _OPEN:
            self._write(self._conn.send_close(code, reason))
            self._start_close_timer()
        return _Closing(self)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        if self.transport is not None and not self._lost:
            self.transport.abort()


def broadcast(socks: Iterable[WebSocket], message: str | bytes, *, max_buffer: int | None = None) -> int:
    """Send *message* to every open socket in *socks*; return how many got it.

    Server-side frames are unmasked and sent uncompressed here, so the frame is
    serialised once and the same ``bytes`` written to every transport.  Client-side
    sockets (which must mask) get their own frame.  Closed sockets are skipped.
    With *max_buffer*, a socket whose unsent bytes already exceed it is a slow
    consumer: it is closed with 1013 (try again later) instead of buffering more,
    so one client that does not read never slows or bloats the others.
    """
    if isinstance(message, str):
        payload, opcode = message.encode(), Opcode.TEXT
    else:
        payload, opcode = bytes(message), Opcode.BINARY
    frame = frame_header(opcode, len(payload)) + payload
    sent = 0
    for sock in socks:
        if sock._lost or sock._conn.state is not _OPEN:
            continue
        if max_buffer is not None and sock.transport.get_write_buffer_size() > max_buffer:
            logger.info("dropping slow consumer %r", sock)
            sock.close(1013, "slow consumer")
            continue
        if sock._is_server:
            if sock._pending is not None:
                sock._flush()
            sock.transport.write(frame)
        else:
            sock.send(message)
        sent += 1
    return sent
