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

A durable room can change host (its host died, or handed it over): the edge
keeps its players connected, holds what they send meanwhile, and follows the
room to its new host when told (MOVED; MOVING from a host handing it over).
"""

from __future__ import annotations

import asyncio
import collections
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
_MAX_HELD = 1000  # messages held for a room between hosts
_WATCH_AGAIN = "room moved to another server: watch again"
_RECONNECT = "room moved to another server: reconnect with your seat token"


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
    """A player of this process (the edge) seated in a room hosted by *host*
    (``None`` while a durable room moves between hosts: what the player sends
    is held until it has a new one)."""

    sock: ws.MessageSocket = attrs.field(repr=False)
    host: str | None
    conn_id: str
    room_id: str
    host_lost: bool = False
    durable: bool = False  # the room can change host
    player: bool = True  # a seated player (False: a spectator)
    held: collections.deque[str | bytes] = attrs.field(factory=collections.deque, repr=False)
    timer: asyncio.TimerHandle | None = attrs.field(default=None, repr=False)
    lobby: str | None = None  # the lobby's name, for a player seated by a match (conn id: its ticket)
    heard: bool = False  # the host has written to it (``matched`` first: the player has its token)


class Bridges:
    """The host side (``RemoteSocket`` per conn id) and the edge side (``Bridge``
    per conn id) of every bridged player of this process."""

    __slots__ = ("_bus", "_remote", "_bridges", "adopt_wait")

    def __init__(self, bus: Bus, adopt_wait: float = 15.0) -> None:
        self._bus = bus
        self.adopt_wait = adopt_wait  # seconds an edge waits for a room's new host
        self._remote: dict[str, RemoteSocket] = {}  # host side: conn id -> socket
        self._bridges: dict[str, Bridge] = {}  # edge side: conn id -> bridge
        bus.handle(Kind.INPUT, self._on_input)
        bus.handle(Kind.EXIT, self._on_exit)
        bus.handle(Kind.OUTPUT, self._on_output)
        bus.handle(Kind.CLOSE, self._on_close)
        bus.handle(Kind.MOVING, self._on_moving)
        bus.handle(Kind.MOVED, self._on_moved)

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
        return {b.host for b in self._bridges.values() if b.host is not None} | {s.edge for s in self._remote.values()}

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

    def drop_room(self, room_id: str, *, moving_from: str | None = None) -> None:
        """Room *room_id* no longer runs here (it moved): forget its remote
        players without closing them; with *moving_from*, tell their edges to
        hold on for its next host."""
        for conn_id, sock in list(self._remote.items()):
            if sock.room_id == room_id:
                del self._remote[conn_id]
                if moving_from is not None:
                    self._bus.send(sock.edge, Kind.MOVING, conn_id, moving_from)
                sock.gone(CloseCode.SERVICE_RESTART, "room moved")

    def _on_input(self, conn_id: str, payload: str | bytes) -> None:
        sock = self._remote.get(conn_id)
        if sock is not None:
            sock.feed(TextMessage(payload) if isinstance(payload, str) else DataMessage(payload))

    def _on_exit(self, conn_id: str, code: int, reason: str) -> None:
        sock = self._remote.pop(conn_id, None)
        if sock is not None:
            sock.gone(code, reason)

    # ------------------------------------------------------------------ edge side

    def bridge(
        self,
        sock: ws.MessageSocket,
        host: str,
        conn_id: str,
        room_id: str,
        *,
        durable: bool = False,
        player: bool = True,
        lobby: str | None = None,
    ) -> Bridge:
        """Register *sock* as player *conn_id* of room *room_id* on *host*: from
        now on what the host sends it is written to it."""
        bridge = self._bridges[conn_id] = Bridge(sock, host, conn_id, room_id, durable=durable, player=player, lobby=lobby)
        return bridge

    def follow(self, bridge: Bridge, claimed: Bridge) -> None:
        """*bridge* (held, its relay still running) goes on through the host that
        a claim of its seat reached (*claimed*, registered by that claim)."""
        self._bridges[bridge.conn_id] = bridge
        bridge.heard = claimed.heard
        self._on_moved(bridge.conn_id, claimed.host or "")

    def unbridge(self, conn_id: str) -> Bridge | None:
        """Forget the bridge of *conn_id*, if any."""
        return self._bridges.pop(conn_id, None)

    def get(self, conn_id: str) -> Bridge:
        """The bridge of *conn_id* (``KeyError`` if there is none)."""
        return self._bridges[conn_id]

    async def relay(self, bridge: Bridge) -> None:
        """Forward what the player sends, in order, until the connection ends."""
        sock, conn_id = bridge.sock, bridge.conn_id
        bus = self._bus
        try:
            while True:
                message = await sock
                if message.is_text or message.is_data:
                    payload = str(message) if message.is_text else bytes(message)  # type: ignore[call-overload]  # a DataMessage is bytes
                    if bridge.host is None:
                        if len(bridge.held) < _MAX_HELD:
                            bridge.held.append(payload)  # the room is between hosts
                        continue
                    bus.send(bridge.host, Kind.INPUT, conn_id, payload)
                    if not bus.drained:
                        await bus.wait_drained()  # Redis is slow or away: stop reading this client
        except ws.Closed:
            pass
        finally:
            self._bridges.pop(conn_id, None)
            if bridge.timer is not None:
                bridge.timer.cancel()
            if not bridge.host_lost and bridge.host is not None:
                code = sock.close_code if sock.close_code is not None else 1006
                bus.send(bridge.host, Kind.EXIT, conn_id, code, sock.close_reason)

    def _on_output(self, conn_id: str, payload: str | bytes) -> None:
        bridge = self._bridges.get(conn_id)
        if bridge is None:
            return
        sock = bridge.sock
        bridge.heard = True
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
        as a lost connection (1006); our players in its durable rooms wait for
        the room's next host, its spectators are told to watch again, and our
        players in its other rooms get ``ended`` and 1012."""
        for conn_id, sock in list(self._remote.items()):
            if sock.edge == peer:
                del self._remote[conn_id]
                sock.gone(CloseCode.ABNORMAL_CLOSURE, "node lost")
        for bridge in list(self._bridges.values()):
            if bridge.host == peer and not bridge.host_lost:
                if bridge.durable and bridge.player:
                    self._hold(bridge)
                elif bridge.durable:
                    bridge.host_lost = True
                    bridge.sock.close(CLOSE_CODES["host_lost"], _WATCH_AGAIN)
                else:
                    self._host_lost(bridge)

    def cut_off(self) -> list[Bridge]:
        """This process was taken for dead (its key expired): every bridge is
        broken.  Remote players leave our rooms as a lost connection; our players
        of durable rooms reconnect (1012, their seat token still works), those of
        other rooms get ``ended`` and 1012.  A player seated by a match that it
        never heard of (no ``matched``, so no token) is held instead: returned,
        for the caller to claim its seat again."""
        for conn_id, sock in list(self._remote.items()):
            del self._remote[conn_id]
            sock.gone(CloseCode.ABNORMAL_CLOSURE, "node lost")
        unheard = []
        for bridge in list(self._bridges.values()):
            if bridge.host_lost:
                continue
            if bridge.durable and bridge.player and not bridge.heard and bridge.lobby is not None:
                bridge.host = None  # what it sends is held until the claim finds the room
                unheard.append(bridge)
            elif bridge.durable:
                bridge.host_lost = True
                bridge.sock.close(CLOSE_CODES["host_lost"], _RECONNECT if bridge.player else _WATCH_AGAIN)
            else:
                self._host_lost(bridge)
        return unheard

    def _host_lost(self, bridge: Bridge) -> None:
        bridge.host_lost = True
        client = bridge.sock
        if not client.closed:
            client.text(codec.encode_text(wire.ended(bridge.room_id, error=_HOST_LOST)))
        client.close(CLOSE_CODES["host_lost"], _HOST_LOST)

    def _hold(self, bridge: Bridge) -> None:
        """The room of *bridge* is between hosts: hold on for ``adopt_wait`` seconds."""
        bridge.host = None
        if bridge.timer is None:
            bridge.timer = asyncio.get_running_loop().call_later(self.adopt_wait, self._gave_up, bridge)

    def _gave_up(self, bridge: Bridge) -> None:
        bridge.timer = None
        if bridge.host is None and self._bridges.get(bridge.conn_id) is bridge:
            self._host_lost(bridge)

    def _on_moving(self, conn_id: str, old_host: str) -> None:
        """The host of *conn_id*'s room hands it over: hold on for the next one."""
        bridge = self._bridges.get(conn_id)
        if bridge is not None and bridge.host == old_host:
            if bridge.player:
                self._hold(bridge)
            else:
                bridge.host_lost = True
                bridge.sock.close(CLOSE_CODES["host_lost"], _WATCH_AGAIN)

    def _on_moved(self, conn_id: str, new_host: str) -> None:
        """*conn_id*'s room is hosted by *new_host* now: follow it there."""
        bridge = self._bridges.get(conn_id)
        if bridge is None or bridge.sock.closed:
            self._bus.send(new_host, Kind.EXIT, conn_id, CloseCode.ABNORMAL_CLOSURE, "")  # gone meanwhile
            return
        bridge.host = new_host
        bridge.host_lost = False
        if bridge.timer is not None:
            bridge.timer.cancel()
            bridge.timer = None
        while bridge.held:
            self._bus.send(new_host, Kind.INPUT, conn_id, bridge.held.popleft())
