"""The contract every socket honours: :class:`MessageSocket`, and its readers' :class:`ReadyListener`.

``ws.mux``, ``ws.broadcast``, ``rooms.Room`` and game code rely on nothing else
of a socket.  Three kinds implement it: :class:`ws.WebSocket` (a connection of
this process), the rooms cluster's bridged socket (a player connected to
another process) and the ASGI socket.  :class:`ws.reader.MessageReader` is the
read side they share; a new implementation subclasses it and adds how bytes
travel (see its docstring), and ``tests/ws/test_contract.py`` runs the same
suite against each.

The reader subscription is the one non-obvious part.  A socket has at most one
*listener* at a time (a :class:`ws.Mux`, usually): while it has one, the socket
calls ``listener.message_ready(sock)`` once for every message it queues and
once when its input ends, and the listener takes the messages with
``sock.receive_nowait()``.  No task runs per socket, flow control stays per
socket, and a plain ``await sock`` takes the socket back (the listener gets
``detach(sock)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, Protocol, runtime_checkable

from .closecodes import CloseCode
from .exceptions import Closed
from .messages import Message

__all__ = ["MessageSocket", "ReadyListener"]


class ReadyListener(Protocol):
    """What reads a socket without awaiting it: told when a message is ready."""

    def message_ready(self, sock: MessageSocket) -> None:
        """*sock* queued a message, or its input ended (``sock.input_ended``).

        Called synchronously from the socket's delivery: do not read here, note
        the socket and wake the reading task."""

    def detach(self, sock: MessageSocket) -> None:
        """Another reader took *sock* (``await sock``, or ``sock.listen(other)``)."""


@runtime_checkable
class MessageSocket(Protocol):
    """One peer's message stream, both ways.

    Reading: ``await sock`` (or ``await sock.recv()``, ``async for msg in sock``)
    gives the next :class:`ws.Message`; once the connection is over it raises
    :class:`ws.Closed` (a cancellation), never ``StopAsyncIteration``.  One task
    reads at a time.

    Writing: ``text``, ``data``, ``send``, ``ping`` and ``pong`` send at call
    time and raise :class:`ws.Closed` if the socket is closed; the awaitable they
    return waits for the socket's write buffer to drain (forgetting to await it
    still sends).  ``close`` starts the closing handshake; awaiting its result
    waits for the end and raises :class:`ws.Closed` in the caller.
    """

    #: The HTTP request that opened the connection (``None`` where there is none
    #: on this process: a client's socket, a player bridged from another node).
    request: Any

    # ---------------------------------------------------------------- reading

    def __await__(self) -> Generator[Any, None, Message]:
        """The next message, or :class:`ws.Closed`."""
        ...

    def recv(self) -> Awaitable[Message]:
        """Same as ``await sock``."""
        ...

    def __aiter__(self) -> AsyncIterator[Message]: ...

    def __anext__(self) -> Awaitable[Message]: ...

    def receive_nowait(self) -> Message | None:
        """The next queued message, or None when none is queued (a listener reads with this)."""
        ...

    @property
    def queued(self) -> int:
        """How many messages are queued, unread."""
        ...

    @property
    def input_ended(self) -> bool:
        """True once no message will arrive any more (those queued may still be read)."""
        ...

    @property
    def listener(self) -> ReadyListener | None:
        """The reader subscribed to this socket's messages, if any."""
        ...

    def listen(self, listener: ReadyListener | None) -> None:
        """Subscribe *listener* to this socket's messages (None: unsubscribe).

        The caller takes care of the previous listener (a mux hands its queued
        order over); the socket only records the new one."""
        ...

    def closed_error(self) -> Closed:
        """The :class:`ws.Closed` that a read of this closed socket raises."""
        ...

    # ---------------------------------------------------------------- writing

    def text(self, message: Any) -> Awaitable[None]:
        """Send a text message (a ``str``; an iterable of ``str`` sends one message)."""
        ...

    def data(self, message: Any) -> Awaitable[None]:
        """Send a binary message (bytes-like; an iterable of them sends one message)."""
        ...

    def send(self, message: str | bytes) -> Awaitable[None]:
        """``text`` for a ``str``, ``data`` for bytes."""
        ...

    def ping(self, payload: bytes | str = b"") -> Awaitable[None]: ...

    def pong(self, payload: bytes | str = b"") -> Awaitable[None]: ...

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> Awaitable[None]:
        """Start closing now; awaiting the result waits for the end, then raises :class:`ws.Closed`."""
        ...

    def abort(self) -> None:
        """End the connection now, without a closing handshake."""
        ...

    def write_buffer_size(self) -> int:
        """Bytes written but not yet sent (``ws.broadcast`` drops slow consumers by it)."""
        ...

    # ---------------------------------------------------------------- state and notifications

    @property
    def closed(self) -> bool:
        """True once nothing more can be sent (closing or closed)."""
        ...

    @property
    def close_code(self) -> int | None:
        """The close code, once closing has started (1006 for a lost connection)."""
        ...

    @property
    def close_reason(self) -> str: ...

    @property
    def disconnected(self) -> bool:
        """True once the connection is gone: close callbacks have run."""
        ...

    def add_close_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(sock)`` once, when the connection is gone."""
        ...

    def remove_close_callback(self, callback: Callable[[Any], None]) -> None: ...

    async def wait_closed(self) -> None:
        """Wait until the connection is gone (without raising)."""
        ...
