"""The asyncio shell around :class:`ws.protocol.Connection`: the seed's ``WebSocket``.

A ``WebSocket`` is itself the :class:`asyncio.Protocol` of its transport once the
opening handshake is done, so bytes go from ``data_received`` straight into the
sans-I/O core with no forwarding layer.  A message reaches a waiting reader by
resolving one future; no task runs per connection or per message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .closecodes import CloseCode
from .frames import Opcode, frame_header
from .messages import CloseMessage, Message
from .protocol import Connection, State
from .reader import Closing, MessageReader
from .socket import MessageSocket

if TYPE_CHECKING:
    from .http import Request

__all__ = ["WebSocket", "Options", "broadcast"]

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

    def __await__(self) -> Generator[Any, None, None]:
        sock = self._sock
        if sock is None or not sock._write_paused:
            return iter(())  # type: ignore[return-value]  # the usual case: nothing to wait for, no generator to make
        return self._wait(sock)

    @staticmethod
    def _wait(sock: WebSocket) -> Generator[Any, None, None]:
        while sock._write_paused:
            if sock.disconnected:
                raise sock.closed_error()
            yield from sock._drain_waiter()
        return None


_SENT = _Sent(None)


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


class WebSocket(asyncio.BufferedProtocol, MessageReader):
    """One WebSocket connection, as game code sees it.

    ``await sock`` (or ``async for msg in sock``) gives the next message; when the
    connection closes it raises :class:`ws.Closed`.  ``text``, ``data``, ``ping``
    and ``pong`` write at call time.  ``request`` is the HTTP request that opened
    the connection (server side), ``subprotocol`` the negotiated subprotocol.
    """

    __slots__ = (
        "_conn",
        "transport",
        "request",
        "subprotocol",
        "extensions",
        "options",
        "remote_address",
        "_write_paused",
        "_drain_waiters",
        "_close_timer",
        "_ping_timer",
        "_pong_timer",
        "_ping_payload",
        "_is_server",
        "_rbuf",
        "_pending",
        "_sent",
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
        self.options = options = options or Options()
        MessageReader.__init__(self, max_queue=options.max_queue)
        self._conn = conn
        # Set by connection_made, which asyncio calls before any other method of ours.
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.request = request
        self.subprotocol = subprotocol
        self.extensions = extensions
        self.remote_address: Any = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._is_server = is_server
        self._rbuf: memoryview | None = None
        self._pending: list[bytes] | None = None  # small frames held back, see _send
        self._sent = 0  # messages sent, for metrics (a plain int: read at scrape time)

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
        """The close reason, once the connection has started closing."""
        return self._conn.close_reason

    @property
    def close_message(self) -> CloseMessage | None:
        """The close frame received from the peer, if any."""
        return self._conn.close_received

    @property
    def is_server(self) -> bool:
        """True for the server's end of the connection (its frames are unmasked)."""
        return self._is_server

    @property
    def messages_sent(self) -> int:
        """How many messages (text and binary; not pings, pongs or the close) this socket has sent."""
        return self._sent

    def write_buffer_size(self) -> int:
        """Bytes written but not yet sent by the transport."""
        transport = self.transport
        return 0 if transport is None else transport.get_write_buffer_size()

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
        self.data_received(self._rbuf[:nbytes])  # type: ignore[index]  # get_buffer() set it

    def data_received(self, data: bytes | memoryview) -> None:
        # *data* may be a view of the shared receive buffer: the core copies what it keeps.
        conn = self._conn
        events = conn.receive_data(data)
        if conn.outgoing:
            self._write(b"".join(conn.data_to_send()))
        if events:
            for msg in events:
                if not (msg.is_text or msg.is_data):
                    events = self._control_received(events)
                    break
            self._deliver(events)
        if conn.state is _CLOSED:
            self._handshake_done()
        elif conn.failure is not None:
            logger.info("closing %r: %s", self, conn.failure)
            if self._is_server:
                self._discard_input()
            # A peer that neither reads nor closes would keep the socket forever:
            # close_timeout aborts it.
            self._start_close_timer()

    def _discard_input(self) -> None:
        """After failing the connection, end our side and wait for the peer's.

        RFC 6455 7.1.7: we MUST NOT process more data (the core ignores it), and the
        server closes the TCP connection first.  Closing it at once, with the peer's
        unread bytes in our socket, makes the kernel answer with a reset, and a peer
        still sending (one large message) loses the close frame it has not read:
        it sees 1006, not our code.  So we shut our sending side (a FIN after the
        close frame) and read and discard until the peer closes, or close_timeout.
        """
        transport = self.transport
        if transport.can_write_eof():  # not over TLS: there the peer's close ends it
            transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _control_received(self, events: list[Message]) -> list[Message]:
        """Handle the pongs among *events*; return the messages the reader gets."""
        messages = []
        for msg in events:
            if msg.is_text or msg.is_data:
                pass
            elif msg.is_pong:
                if msg == self._ping_payload:  # type: ignore[comparison-overlap]  # a PongMessage is bytes
                    self._pong_received()
                if not self.options.receive_pongs:
                    continue
            else:
                continue  # pings are answered by the core; the close is handled by the caller
            messages.append(msg)
        return messages

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn.receive_eof()
        self._lost = True
        for handle in (self._close_timer, self._ping_timer, self._pong_timer):
            if handle is not None:
                handle.cancel()
        self._close_timer = self._ping_timer = self._pong_timer = None
        self._end_input()
        for fut in self._drain_waiters:
            if not fut.done():
                fut.set_result(None)
        self._drain_waiters.clear()
        self._connection_gone()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _drain_waiter(self) -> asyncio.Future[None]:
        """A future resolved when writing resumes (or the connection is gone)."""
        fut = self._loop.create_future()
        self._drain_waiters.append(fut)
        return fut

    # ------------------------------------------------------------------ closing machinery

    def _handshake_done(self) -> None:
        """Both close frames have been exchanged (RFC 6455 7.1.2)."""
        self._end_input()
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
        interval = self.options.ping_interval
        if interval is not None:  # (it is: keepalive runs only with an interval)
            self._ping_timer = self._loop.call_later(interval, self._keepalive)

    def _pong_received(self) -> None:
        self._ping_payload = None
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None

    def _pong_missing(self) -> None:
        self._pong_timer = None
        logger.info("keepalive ping timeout on %r", self)
        if self._conn.state is _OPEN:
            self._write(self._conn.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout"))
        self._abort()

    # ------------------------------------------------------------------ flow control (see MessageReader)

    def _pause_source(self) -> None:
        self.transport.pause_reading()

    def _resume_source(self) -> None:
        self.transport.resume_reading()

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
            raise self.closed_error()

    def text(self, message: str | Iterable[str]) -> _Sent:
        """Send a text message (an iterable of strings sends one fragmented message)."""
        conn = self._conn
        if self._lost or conn.state is not _OPEN:
            raise self.closed_error()
        self._sent += 1
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
            raise self.closed_error()
        self._sent += 1
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
            self._sent += 1
            self._send(conn.send_text(message))  # the common case, one call shorter
            return _Sent(self) if self._write_paused else _SENT
        return self.text(message) if isinstance(message, str) else self.data(message)

    def ping(self, payload: bytes | str = b"") -> _Sent:
        """Send a ping (at most 125 bytes)."""
        return self._control(self._conn.send_ping, payload)

    def pong(self, payload: bytes | str = b"") -> _Sent:
        """Send an unsolicited pong; pings are answered automatically."""
        return self._control(self._conn.send_pong, payload)

    def _control(self, frame: Callable[[bytes], bytes], payload: bytes | str) -> _Sent:
        self._check_writable()
        self._write(frame(payload.encode() if isinstance(payload, str) else payload))
        return _Sent(self) if self._write_paused else _SENT

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> Closing:
        """Start the closing handshake now; awaiting the result waits for it to end
        (at most ``close_timeout``) and then raises :class:`Closed` in the caller."""
        if not self._lost and self._conn.state is _OPEN:
            self._write(self._conn.send_close(code, reason))
            self._start_close_timer()
        return Closing(self)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        if self.transport is not None and not self._lost:
            self.transport.abort()


def broadcast(socks: Iterable[MessageSocket], message: str | bytes, *, max_buffer: int | None = None) -> int:
    """Send *message* to every open socket in *socks*; return how many got it.

    Server-side frames are unmasked and sent uncompressed here, so the frame is
    serialised once and the same ``bytes`` written to every transport.  Client-side
    sockets (which must mask) and other :class:`ws.MessageSocket` implementations
    get the message through ``send``.  Closed and closing sockets are skipped.
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
        if sock.closed:
            continue
        if max_buffer is not None and sock.write_buffer_size() > max_buffer:
            logger.info("dropping slow consumer %r", sock)
            sock.close(CloseCode.TRY_AGAIN_LATER, "slow consumer")
            continue
        if isinstance(sock, WebSocket) and sock._is_server:
            if sock._pending is not None:
                sock._flush()
            sock._sent += 1
            sock.transport.write(frame)
        else:
            sock.send(message)
        sent += 1
    return sent
