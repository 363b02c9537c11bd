"""``mux``: read from several sockets at once, as ``(sock, message)`` pairs.

No task runs per socket: while a mux is alive each of its sockets appends itself
to the mux's ready queue when a message (or its close) arrives, and the mux
takes the message from that socket's own queue.  So flow control stays per
socket, and abandoning a mux leaks nothing.  A socket belongs to its most recent
reader: a new mux over it, or a plain ``await sock``, takes it from the old mux.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from .protocol import State

_CLOSED = State.CLOSED  # module globals are faster to read (see ws.protocol)

if TYPE_CHECKING:
    from .connection import WebSocket

__all__ = ["Mux", "mux"]


def _is_done(sock: WebSocket) -> bool:
    return sock._lost or sock._conn.state is _CLOSED


class Mux:
    """The read-only stream of ``(sock, message)`` pairs from several sockets.

    ``await m`` gives the next pair; ``async for sock, msg in m`` loops over them.
    The first socket to disconnect raises :class:`ws.Closed` naming it
    (``exc.socket``), after the messages it sent before closing; that socket
    leaves the mux, so reading on from the others is possible.  ``add`` and
    ``discard`` change the set of sockets; ``interrupt`` wakes the reader with an
    exception (a game loop uses it for events that are not messages).
    """

    __slots__ = ("socks", "_order", "_waiter", "_loop", "_interrupt")

    def __init__(self, *socks: WebSocket) -> None:
        if not socks:
            raise ValueError("mux() needs at least one socket")
        self.socks = list(socks)
        self._waiter = None
        self._interrupt: BaseException | None = None
        self._loop = socks[0]._loop
        order: collections.deque[WebSocket] = collections.deque()
        self._order = order
        mine = set(map(id, socks))
        # Take the sockets from their previous muxes, keeping the order in which
        # their queued messages arrived across sockets.
        for old in {id(s._mux): s._mux for s in socks if s._mux is not None}.values():
            order.extend(s for s in old._order if id(s) in mine)
            old._release(mine)
        for sock in socks:
            self._take(sock)

    def _take(self, sock: WebSocket) -> None:
        if sock._mux is None:
            self._order.extend([sock] * len(sock._queue))
            if _is_done(sock):
                self._order.append(sock)
        sock._mux = self
        if self._order:
            self._wake()

    def add(self, sock: WebSocket) -> None:
        """Read from *sock* too (taking it from any other reader)."""
        if sock in self.socks:
            return
        if sock._mux is not None:
            old = sock._mux
            self._order.extend(s for s in old._order if s is sock)
            old._release({id(sock)})
        self.socks.append(sock)
        self._take(sock)

    def discard(self, sock: WebSocket) -> None:
        """Stop reading from *sock*; its unread messages stay queued on it."""
        if sock in self.socks:
            self._release({id(sock)})
            self.socks.remove(sock)

    def interrupt(self, exc: BaseException) -> None:
        """Make the current (or next) ``await`` of this mux raise *exc*, once."""
        self._interrupt = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __repr__(self) -> str:
        return f"<Mux of {len(self.socks)} sockets>"

    def _ready(self, sock: WebSocket) -> None:
        """Called by *sock* when a message or its close arrived."""
        self._order.append(sock)
        self._wake()

    def _release(self, ids: set[int]) -> None:
        """Forget the sockets in *ids*: another reader took them."""
        self._order = collections.deque(s for s in self._order if id(s) not in ids)
        for sock in self.socks:
            if id(sock) in ids and sock._mux is self:
                sock._mux = None

    def _detach(self, sock: WebSocket) -> None:
        """A plain ``await sock`` takes *sock* back from this mux."""
        self.discard(sock)

    def close(self) -> None:
        """Give the sockets back; their unread messages stay queued on them."""
        self._release(set(map(id, self.socks)))

    def __enter__(self) -> Mux:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __await__(self):
        while True:
            if self._interrupt is not None:
                exc, self._interrupt = self._interrupt, None
                raise exc
            order = self._order
            while order:
                sock = order.popleft()
                if sock._mux is not self:
                    continue
                msg = sock._take_ready()
                if msg is not None:
                    return sock, msg
                if _is_done(sock):
                    self.discard(sock)
                    raise sock._closed_error()
            if self._waiter is not None:
                # As for a socket: a second waiter would leave the first asleep for good.
                raise RuntimeError("another task is already waiting on this mux")
            fut = self._loop.create_future()
            self._waiter = fut
            try:
                yield from fut
            finally:
                self._waiter = None

    def __aiter__(self) -> Mux:
        return self

    def __anext__(self) -> Mux:
        return self


def mux(*socks: WebSocket) -> Mux:
    """Read from *socks* at once: ``async for sock, msg in ws.mux(a, b)``."""
    return Mux(*socks)
