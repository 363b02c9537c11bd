"""``mux``: read from several sockets at once, as ``(sock, message)`` pairs.

No task runs per socket: while a mux is alive each of its sockets appends itself
to the mux's ready queue when a message (or its close) arrives, and the mux
takes the message from that socket's own queue.  So flow control stays per
socket, and abandoning a mux leaks nothing.  A socket belongs to its most recent
reader: a new mux over it, or a plain ``await sock``, takes it from the old mux.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Generator
from typing import Any

from .messages import Message
from .socket import MessageSocket

__all__ = ["Mux", "mux"]


class Mux:
    """The read-only stream of ``(sock, message)`` pairs from several sockets.

    ``await m`` gives the next pair; ``async for sock, msg in m`` loops over them.
    The first socket to disconnect raises :class:`ws.Closed` naming it
    (``exc.socket``), after the messages it sent before closing; that socket
    leaves the mux, so reading on from the others is possible.  ``add`` and
    ``discard`` change the set of sockets; ``interrupt`` wakes the reader with an
    exception (a game loop uses it for events that are not messages).

    A mux is the sockets' :class:`ws.socket.ReadyListener`: any
    :class:`ws.MessageSocket` can be read through it.
    """

    __slots__ = ("socks", "_order", "_waiter", "_interrupt")

    def __init__(self, *socks: MessageSocket) -> None:
        if not socks:
            raise ValueError("mux() needs at least one socket")
        self.socks = list(socks)
        self._waiter: asyncio.Future[None] | None = None
        self._interrupt: BaseException | None = None
        order: collections.deque[MessageSocket] = collections.deque()
        self._order = order
        mine = set(map(id, socks))
        # Take the sockets from their previous readers, keeping the order in which
        # their queued messages arrived across sockets.
        previous = {id(s.listener): s.listener for s in socks if s.listener is not None}
        for old in previous.values():
            if isinstance(old, Mux):
                order.extend(s for s in old._order if id(s) in mine)
                old._release(mine)
            else:
                for sock in socks:
                    if sock.listener is old:
                        sock.listen(None)
                        old.detach(sock)
        for sock in socks:
            self._take(sock)

    def _take(self, sock: MessageSocket) -> None:
        if sock.listener is None:
            self._order.extend([sock] * sock.queued)
            if sock.input_ended:
                self._order.append(sock)
        sock.listen(self)
        if self._order:
            self._wake()

    def add(self, sock: MessageSocket) -> None:
        """Read from *sock* too (taking it from any other reader)."""
        if sock in self.socks:
            return
        old = sock.listener
        if isinstance(old, Mux):
            self._order.extend(s for s in old._order if s is sock)
            old._release({id(sock)})
        elif old is not None:
            sock.listen(None)
            old.detach(sock)
        self.socks.append(sock)
        self._take(sock)

    def discard(self, sock: MessageSocket) -> None:
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

    # ------------------------------------------------------------------ as a ReadyListener

    def message_ready(self, sock: MessageSocket) -> None:
        """*sock* queued a message or its input ended (see :mod:`ws.socket`)."""
        self._order.append(sock)
        self._wake()

    def detach(self, sock: MessageSocket) -> None:
        """A plain ``await sock`` took *sock* back from this mux."""
        self.discard(sock)

    # ------------------------------------------------------------------

    def _release(self, ids: set[int]) -> None:
        """Forget the sockets in *ids*: another reader took them."""
        self._order = collections.deque(s for s in self._order if id(s) not in ids)
        for sock in self.socks:
            if id(sock) in ids and sock.listener is self:
                sock.listen(None)

    def close(self) -> None:
        """Give the sockets back; their unread messages stay queued on them."""
        self._release(set(map(id, self.socks)))

    def __enter__(self) -> Mux:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __await__(self) -> Generator[Any, None, tuple[MessageSocket, Message]]:
        while True:
            if self._interrupt is not None:
                exc, self._interrupt = self._interrupt, None
                raise exc
            order = self._order
            while order:
                sock = order.popleft()
                if sock.listener is not self:
                    continue
                msg = sock.receive_nowait()
                if msg is not None:
                    return sock, msg
                if sock.input_ended:
                    self.discard(sock)
                    raise sock.closed_error()
            if self._waiter is not None:
                # As for a socket: a second waiter would leave the first asleep for good.
                raise RuntimeError("another task is already waiting on this mux")
            fut = asyncio.get_running_loop().create_future()
            self._waiter = fut
            try:
                yield from fut
            finally:
                self._waiter = None

    def __aiter__(self) -> Mux:
        return self

    def __anext__(self) -> Mux:
        return self


def mux(*socks: MessageSocket) -> Mux:
    """Read from *socks* at once: ``async for sock, msg in ws.mux(a, b)``."""
    return Mux(*socks)
