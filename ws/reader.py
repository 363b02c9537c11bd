"""The read side every :class:`ws.MessageSocket` shares: :class:`MessageReader`.

One implementation of the message queue, the one waiting reader, the listener
subscription (the mux), flow control and close notifications, for
:class:`ws.WebSocket` and for sockets whose bytes travel some other way (the
rooms cluster's bridged players, the ASGI socket).
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
from collections.abc import Callable, Generator, Iterable
from typing import Any

from .closecodes import CloseCode
from .exceptions import Closed
from .messages import CloseMessage, Message
from .mux import Mux
from .socket import MessageSocket, ReadyListener

__all__ = ["MessageReader", "RelayedSocket", "Closing"]

logger = logging.getLogger("ws")

_NO_QUEUE: tuple[()] = ()  # a socket's message queue until its first message


class MessageReader(abc.ABC):
    """The reading half of a socket (``await sock``, ``async for``, a listener)
    and its close notifications (``add_close_callback``, ``wait_closed``).

    An implementation calls ``MessageReader.__init__`` and then, as its transport
    reports:

    - ``self._deliver(messages)`` for messages received, in order;
    - ``self._end_input()`` once no message will arrive any more;
    - ``self._connection_gone()`` when the connection is over (this ends the
      input too and runs the close callbacks).

    It provides the write side, ``close_code``, ``close_reason`` and
    ``close_message``, and, for flow control, may override ``_pause_source`` /
    ``_resume_source``: reading pauses when ``max_queue`` messages are queued and
    resumes when the queue is down to half.
    """

    __slots__ = (
        "_loop",
        "_queue",
        "_waiter",
        "_listener",
        "_ended",
        "_lost",
        "_reading_paused",
        "_max_queue",
        "_on_close",
        "_lost_waiters",
        "_received",
    )

    def __init__(self, *, max_queue: int | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        # Created on the first message: an empty deque costs 600+ bytes, and an idle
        # connection (a player waiting in a lobby) may never receive one.
        self._queue: collections.deque[Message] | tuple[()] = _NO_QUEUE
        self._waiter: asyncio.Future[None] | None = None
        self._listener: ReadyListener | None = None
        self._ended = False
        self._lost = False
        self._reading_paused = False
        self._max_queue = max_queue
        self._on_close: list[Callable[[Any], None]] = []
        self._lost_waiters: list[asyncio.Future[None]] = []
        self._received = 0  # messages delivered, for metrics (read at scrape time)

    # ------------------------------------------------------------------ what an implementation provides

    @property
    @abc.abstractmethod
    def close_code(self) -> int | None:
        """The close code, once closing has started."""

    @property
    @abc.abstractmethod
    def close_reason(self) -> str:
        """The close reason, once closing has started."""

    @property
    def close_message(self) -> CloseMessage | None:
        """The close frame received from the peer, if any."""
        return None

    def _pause_source(self) -> None:
        """Stop taking input: ``max_queue`` messages are queued."""

    def _resume_source(self) -> None:
        """Take input again: the queue is down to half of ``max_queue``."""

    # ------------------------------------------------------------------ the implementation's side

    def _deliver(self, messages: Iterable[Message]) -> None:
        """Queue *messages* for the reader (the listener hears of each one)."""
        queue = self._queue
        if not isinstance(queue, collections.deque):  # (the shared empty tuple)
            queue = self._queue = collections.deque()
        listener = self._listener
        for msg in messages:
            queue.append(msg)
            # For metrics: one increment of a slot (about 15 ns; two len() calls
            # per batch instead measured 130).
            self._received += 1
            if listener is not None:
                listener.message_ready(self)  # type: ignore[arg-type]
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        max_queue = self._max_queue
        if max_queue is not None and len(queue) >= max_queue and not self._reading_paused:
            self._reading_paused = True
            self._pause_source()

    def _end_input(self) -> None:
        """No message will arrive any more: wake the reader, so it raises Closed
        once it has read what is queued."""
        if self._ended:
            return
        self._ended = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._listener is not None:
            self._listener.message_ready(self)  # type: ignore[arg-type]

    def _connection_gone(self) -> None:
        """The connection is over: end the input, wake ``close``/``wait_closed``
        and run the close callbacks (each once; an error in one is logged)."""
        self._lost = True
        self._end_input()
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

    # ------------------------------------------------------------------ reading

    def __await__(self) -> Generator[Any, None, Message]:
        """``await sock``: the next message, or :class:`Closed`."""
        listener = self._listener
        if listener is not None:
            # A plain read takes the socket back from its listener (a mux).
            self._listener = None
            listener.detach(self)  # type: ignore[arg-type]
        while True:
            queue = self._queue  # (created by the first message: read it again after a wait)
            if queue:
                if not self._reading_paused:
                    return queue.popleft()
                msg = self.receive_nowait()
                assert msg is not None
                return msg
            if self._ended:
                raise self.closed_error()
            if self._waiter is not None:
                # One waiter per socket: a second one would replace the first, which
                # would then never wake, not even on disconnect.
                raise RuntimeError("another task is already waiting for a message on this socket")
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

    def receive_nowait(self) -> Message | None:
        """The next queued message (None if there is none), resuming input once the
        queue is down to half of ``max_queue``.  A listener reads through this."""
        queue = self._queue
        if queue:
            msg = queue.popleft()
            if self._reading_paused and len(queue) <= (self._max_queue or 0) // 2:
                self._reading_paused = False
                if not self._lost:
                    self._resume_source()
            return msg
        return None

    @property
    def queued(self) -> int:
        """How many messages are queued, unread."""
        return len(self._queue)

    @property
    def messages_received(self) -> int:
        """How many messages this socket has received (queued for its reader) so far."""
        return self._received

    @property
    def messages_sent(self) -> int:
        """How many messages this socket has sent so far (0 where the implementation does not count)."""
        return 0

    @property
    def input_ended(self) -> bool:
        """True once no message will arrive any more (those queued may still be read)."""
        return self._ended

    @property
    def listener(self) -> ReadyListener | None:
        """The reader subscribed to this socket's messages (a :class:`ws.Mux`), if any."""
        return self._listener

    def listen(self, listener: ReadyListener | None) -> None:
        """Subscribe *listener* to this socket's messages; see :mod:`ws.socket`."""
        self._listener = listener

    def closed_error(self) -> Closed:
        """The :class:`Closed` a read raises once the socket is closed (1006 if no code)."""
        code = self.close_code
        return Closed(self.close_message, code=CloseCode.ABNORMAL_CLOSURE if code is None else code, reason=self.close_reason, socket=self)

    def mux(self, *others: MessageSocket) -> Mux:
        """Read from this socket and *others* at once; see :func:`ws.mux`."""
        return Mux(self, *others)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ close notifications

    @property
    def disconnected(self) -> bool:
        """True once the connection is gone (its close callbacks have run)."""
        return self._lost

    def add_close_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(sock)`` once, when the connection is gone."""
        if self._lost:
            self._loop.call_soon(callback, self)
        else:
            self._on_close.append(callback)

    def remove_close_callback(self, callback: Callable[[Any], None]) -> None:
        """Forget *callback* (no error if it was not registered)."""
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


class RelayedSocket(MessageReader):
    """A socket whose frames another party writes: the edge process of a cluster
    (a bridged player), the ASGI server.  It keeps its own close state (set by
    ``close``; the end by ``_connection_gone``) and turns ``text``/``data``/``send``
    into one whole message each for ``_send_text`` / ``_send_data``."""

    __slots__ = ("_closing", "_close_code", "_close_reason")

    def __init__(self, *, max_queue: int | None = None) -> None:
        MessageReader.__init__(self, max_queue=max_queue)
        self._closing = False
        self._close_code: int | None = None
        self._close_reason = ""

    @property
    def closed(self) -> bool:
        """True once nothing more can be sent (closing or closed)."""
        return self._closing or self._lost

    @property
    def close_code(self) -> int | None:
        """The close code, once closing has started (1006 for a lost connection)."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    def _check_writable(self) -> None:
        if self._closing or self._lost:
            raise self.closed_error()

    @abc.abstractmethod
    def _send_text(self, text: str) -> Any:
        """Send one whole text message; return what ``text`` returns."""

    @abc.abstractmethod
    def _send_data(self, payload: bytes) -> Any:
        """Send one whole binary message; return what ``data`` returns."""

    def text(self, message: str | Iterable[str]) -> Any:
        """Send a text message (an iterable of strings is joined into one)."""
        self._check_writable()
        return self._send_text(message if isinstance(message, str) else "".join(message))

    def data(self, message: bytes | bytearray | memoryview | Iterable[bytes]) -> Any:
        """Send a binary message (an iterable of bytes is joined into one)."""
        self._check_writable()
        payload = bytes(message) if isinstance(message, (bytes, bytearray, memoryview)) else b"".join(map(bytes, message))
        return self._send_data(payload)

    def send(self, message: str | bytes) -> Any:
        """``text`` for a ``str``, ``data`` for bytes."""
        return self.text(message) if isinstance(message, str) else self.data(message)


class Closing:
    """What ``close`` returns: awaiting it waits until the connection is gone and
    then raises :class:`Closed` in the awaiting task, as the seed's ``close`` does."""

    __slots__ = ("_sock",)

    def __init__(self, sock: MessageReader) -> None:
        self._sock = sock

    def __await__(self) -> Generator[Any, None, None]:
        sock = self._sock
        if not sock._lost:
            fut = sock._loop.create_future()
            sock._lost_waiters.append(fut)
            yield from fut
        raise sock.closed_error()
