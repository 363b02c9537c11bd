"""Bridging: players connected to one process, seated in a room another hosts.

A player stays connected to their own process, the *edge*; the room runs on
its *host*.  The edge forwards what the player sends, in order, to the host
(:meth:`Bridges.relay`, one task per bridged player: the connection's own),
and writes to the socket what the host sends back.  On the host such a player
is a :class:`RemoteSocket`, which ``Room``, ``ws.mux`` and ``ws.broadcast`` use
like a :class:`ws.WebSocket`: same sends, reads, close codes and close
callbacks.  :class:`Bridges` keeps both sides' registries and handles the
bus messages between them (INPUT and EXIT to the host, OUTPUT and CLOSE to
the edge).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import attrs

import ws
from ws.closecodes import CloseCode
from ws.messages import DataMessage, TextMessage
from ws.reader import Closing, RelayedSocket

from .. import codec, wire
from ..exceptions import CLOSE_CODES
from .bus import Bus, Kind

__all__ = ["RemoteSocket", "Bridge", "Bridges"]

logger = logging.getLogger("rooms.redis")

_HOST_LOST = "room host lost"
_MAX_BUFFER = 2**20  # an edge closes a slow client (1013) beyond this, as a room does


# ---------------------------------------------------------------------- the host's view of a remote player


class _Sent:
    """Sends to a remote player are queued at call time; awaiting is a no-op."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]  # nothing to wait for, no generator to make


_SENT = _Sent()


class RemoteSocket(RelayedSocket):
    """A player (or spectator) connected to another process of the cluster.

    The host's game sees it as any :class:`ws.MessageSocket`: ``text``, ``data``,
    ``send`` and ``close`` are forwarded to the process holding the TCP
    connection, in order; ``await sock`` (or a mux) gives the messages the
    player sent, in order; the connection's end arrives with the code and reason
    the edge saw (1006 when the edge process died).  The read side is
    :class:`ws.MessageReader`'s; what is its own is how bytes travel:
    :meth:`feed` and :meth:`gone` from the bus, sends to the edge's inbox.
    """

    __slots__ = ("_bus", "edge", "conn_id", "room_id", "request", "remote_address", "__weakref__")

    def __init__(self, bus: Bus, edge: str, conn_id: str, room_id: str) -> None:
        # No max_queue: the edge bounds what its client may send (it stops
        # reading it while Redis is slow) and closes a slow client itself.
        RelayedSocket.__init__(self, max_queue=None)
        self._bus = bus
        self.edge = edge
        self.conn_id = conn_id
        self.room_id = room_id
        self.request = None
        self.remote_address = ("node", edge)

    def __repr__(self) -> str:
        state = "closed" if self._lost else "closing" if self._closing else "open"
        return f"<RemoteSocket {self.conn_id} on {self.edge} {state}>"

    def write_buffer_size(self) -> int:
        """Always 0: the edge enforces its own write limit on the real connection."""
        return 0

    # from the edge, through the bus
    def feed(self, message: ws.Message) -> None:
        """A message the player sent (ignored once the connection is gone)."""
        if not self._lost:
            self._deliver((message,))

    def gone(self, code: int, reason: str) -> None:
        """The player's connection ended (on the edge, or with the edge)."""
        if self._lost:
            return
        if self._close_code is None:
            self._close_code, self._close_reason = code, reason
        self._connection_gone()

    # sending (text, data and send are RelayedSocket's)
    def _send_text(self, text: str) -> _Sent:
        self._bus.send(self.edge, Kind.OUTPUT, self.conn_id, text)
        return _SENT

    def _send_data(self, payload: bytes) -> _Sent:
        self._bus.send(self.edge, Kind.OUTPUT, self.conn_id, payload)
        return _SENT

    def ping(self, payload: bytes | str = b"") -> _Sent:
        """A no-op while open: the edge keeps its own connection alive."""
        self._check_writable()
        return _SENT

    pong = ping

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> Closing:
        """Ask the edge to close the player's connection with *code* and *reason*."""
        if not self._lost and not self._closing:
            self._closing = True
            self._close_code, self._close_reason = code, reason
            self._bus.send(self.edge, Kind.CLOSE, self.conn_id, code, reason)
        return Closing(self)

    def abort(self) -> None:
        """The edge drops the connection (the host cannot abort it itself)."""
        self.close(CloseCode.ABNORMAL_CLOSURE, "")


# ---------------------------------------------------------------------- both sides' registries


@attrs.define(slots=True, eq=False)
class Bridge:
    """A player of this process (the edge) seated in a room hosted by *host*."""

    sock: ws.MessageSocket = attrs.field(repr=False)
    host: str
    conn_id: str
    room_id: str
    host_lost: bool = False


class Bridges:
    """The host side (``RemoteSocket`` per conn id) and the edge side (``Bridge``
    per conn id) of every bridged player of this process."""

    __slots__ = ("_bus", "_remote", "_bridges")

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._remote: dict[str, RemoteSocket] = {}  # host side: conn id -> socket
        self._bridges: dict[str, Bridge] = {}  # edge side: conn id -> bridge
        bus.handle(Kind.INPUT, self._on_input)
        bus.handle(Kind.EXIT, self._on_exit)
        bus.handle(Kind.OUTPUT, self._on_output)
        bus.handle(Kind.CLOSE, self._on_close)

    @property
    def remote_count(self) -> int:
        """Players of rooms hosted here who are connected elsewhere."""
        return len(self._remote)

    @property
    def bridged_count(self) -> int:
        """Players connected here who are seated in rooms hosted elsewhere."""
        return len(self._bridges)

    def peers(self) -> set[str]:
        """The processes we share a bridged player with."""
        return {b.host for b in self._bridges.values()} | {s.edge for s in self._remote.values()}

    # ------------------------------------------------------------------ host side

    def remote(self, edge: str, conn_id: str, room_id: str) -> RemoteSocket:
        """A socket for player *conn_id* of *edge*, seated in room *room_id* here."""
        sock = self._remote[conn_id] = RemoteSocket(self._bus, edge, conn_id, room_id)
        return sock

    def departed(self, edge: str, conn_id: str, room_id: str) -> RemoteSocket:
        """A socket for a player who left while their group was being seated:
        the room starts with them gone (close 1000)."""
        sock = RemoteSocket(self._bus, edge, conn_id, room_id)
        sock.gone(CloseCode.NORMAL_CLOSURE, "left while being seated")
        return sock

    def room_over(self, room_id: str) -> None:
        """Room *room_id* hosted here ended: its remote players' sockets end too."""
        for conn_id, sock in list(self._remote.items()):
            if sock.room_id == room_id:
                del self._remote[conn_id]
                sock.gone(sock.close_code or CloseCode.NORMAL_CLOSURE, sock.close_reason)

    def _on_input(self, conn_id: str, payload: str | bytes) -> None:
        sock = self._remote.get(conn_id)
        if sock is not None:
            sock.feed(TextMessage(payload) if isinstance(payload, str) else DataMessage(payload))

    def _on_exit(self, conn_id: str, code: int, reason: str) -> None:
        sock = self._remote.pop(conn_id, None)
        if sock is not None:
            sock.gone(code, reason)

    # ------------------------------------------------------------------ edge side

    def bridge(self, sock: ws.MessageSocket, host: str, conn_id: str, room_id: str) -> Bridge:
        """Register *sock* as player *conn_id* of room *room_id* on *host*: from
        now on what the host sends it is written to it."""
        bridge = self._bridges[conn_id] = Bridge(sock, host, conn_id, room_id)
        return bridge

    def unbridge(self, conn_id: str) -> Bridge | None:
        """Forget the bridge of *conn_id*, if any."""
        return self._bridges.pop(conn_id, None)

    def get(self, conn_id: str) -> Bridge:
        """The bridge of *conn_id* (``KeyError`` if there is none)."""
        return self._bridges[conn_id]

    async def relay(self, bridge: Bridge) -> None:
        """Forward what the player sends, in order, until the connection ends."""
        sock, host, conn_id = bridge.sock, bridge.host, bridge.conn_id
        bus = self._bus
        try:
            while True:
                message = await sock
                if message.is_text or message.is_data:
                    bus.send(host, Kind.INPUT, conn_id, str(message) if message.is_text else bytes(message))  # type: ignore[call-overload]  # a DataMessage is bytes
                    if not bus.drained:
                        await bus.wait_drained()  # Redis is slow or away: stop reading this client
        except ws.Closed:
            pass
        finally:
            self._bridges.pop(conn_id, None)
            if not bridge.host_lost:
                code = sock.close_code if sock.close_code is not None else 1006
                bus.send(host, Kind.EXIT, conn_id, code, sock.close_reason)

    def _on_output(self, conn_id: str, payload: str | bytes) -> None:
        bridge = self._bridges.get(conn_id)
        if bridge is None:
            return
        sock = bridge.sock
        if sock.closed:
            return
        if sock.write_buffer_size() > _MAX_BUFFER:
            logger.info("dropping slow consumer %r", sock)
            sock.close(CloseCode.TRY_AGAIN_LATER, "slow consumer")
            return
        if isinstance(payload, str):
            sock.text(payload)
        else:
            sock.data(payload)

    def _on_close(self, conn_id: str, code: int, reason: str) -> None:
        bridge = self._bridges.get(conn_id)
        if bridge is not None:
            bridge.sock.close(code, reason)

    # ------------------------------------------------------------------ a peer is gone

    def peer_lost(self, peer: str) -> None:
        """*peer* is dead (or we are cut off from it): its players leave our rooms
        as a lost connection (1006); our players in its rooms get ``ended`` and 1012."""
        for conn_id, sock in list(self._remote.items()):
            if sock.edge == peer:
                del self._remote[conn_id]
                sock.gone(CloseCode.ABNORMAL_CLOSURE, "node lost")
        for bridge in list(self._bridges.values()):
            if bridge.host == peer and not bridge.host_lost:
                bridge.host_lost = True
                client = bridge.sock
                if not client.closed:
                    client.text(codec.encode_text(wire.ended(bridge.room_id, error=_HOST_LOST)))
                client.close(CLOSE_CODES["host_lost"], _HOST_LOST)
