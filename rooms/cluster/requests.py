"""Request and reply: a reconnect or a spectator arriving at one process for a
room another process hosts.

The edge sends a :class:`SeatRequest` to the room's host (found in Redis by
``find_room``); the host asks its lobby (``LobbyView.admit``) and answers with
a :class:`SeatReply`.  Yes: the host seats a :class:`RemoteSocket` for the
connection, and the edge, which registered the bridge on reading the reply
(before the host's next message to it), relays the player.  No, no answer
within ``request_timeout``, or the host gone: the edge refuses the connection.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from typing import Any

import attrs

import ws
from ws.closecodes import CloseCode

from ..backend import Claim, Elsewhere, Entry, LobbyView, Refusal, Resume, Watch
from .bridge import Bridge, Bridges
from .bus import Bus, Kind
from .local import Local

__all__ = ["Action", "SeatRequest", "SeatReply", "Requests"]

_UNKNOWN_ROOM = Refusal("unknown_room", "this room is over or unknown")
_NO_ANSWER = Refusal("unavailable", "the room's server did not answer; try again shortly")
MOVING = Refusal("unavailable", "the room is moving to another server; try again shortly")


class Action(str, enum.Enum):
    """What a :class:`SeatRequest` asks for (its value is what travels)."""

    RESUME = "resume"  # take a held seat back with a seat token
    WATCH = "watch"  # watch the room
    CLAIM = "claim"  # take the seat a ticket was matched to (token: the ticket id)


@attrs.frozen(slots=True)
class SeatRequest:
    """Edge -> host: let connection *conn_id* of *edge* into *room_id* of *lobby*.
    ``token`` is the seat token for ``RESUME`` (empty for ``WATCH``)."""

    req_id: str
    action: Action
    lobby: str
    room_id: str
    token: str
    edge: str
    conn_id: str

    def entry(self) -> Entry:
        """What the lobby is asked to admit."""
        if self.action is Action.CLAIM:
            return Claim(self.token)
        return Resume(self.token) if self.action is Action.RESUME else Watch()


@attrs.frozen(slots=True)
class SeatReply:
    """Host -> edge: the answer to request *req_id*; ``error`` ``None`` is yes."""

    req_id: str
    error: str | None
    detail: str


@attrs.define(slots=True, eq=False)
class _Pending:
    """A request of this process waiting for its reply."""

    reply: asyncio.Future[Refusal | None] = attrs.field(repr=False)
    host: str
    sock: ws.MessageSocket = attrs.field(repr=False)
    conn_id: str
    room_id: str
    durable: bool = False
    player: bool = True


class Requests:
    """Both ends of seat requests: this process asking (edge) and answering (host)."""

    __slots__ = ("_bus", "_bridges", "_local", "_node", "_timeout", "_pending")

    def __init__(self, bus: Bus, bridges: Bridges, local: Local, node: str, timeout: float) -> None:
        self._bus = bus
        self._bridges = bridges
        self._local = local
        self._node = node
        self._timeout = timeout
        self._pending: dict[str, _Pending] = {}
        bus.handle(Kind.REQUEST, self._on_request)
        bus.handle(Kind.REPLY, self._on_reply)

    def peers(self) -> set[str]:
        """The hosts we wait for an answer from."""
        return {pending.host for pending in self._pending.values()}

    # ------------------------------------------------------------------ edge

    async def request(self, lobby: LobbyView, sock: ws.MessageSocket, where: Elsewhere, entry: Entry) -> Bridge | Refusal:
        """Ask the host of *where* to seat (``RESUME``) or admit (``WATCH``) *sock*:
        the bridge to relay it through, or why not."""
        conn_id, req_id = secrets.token_hex(8), secrets.token_hex(8)
        if isinstance(entry, Claim):
            action, token, conn_id = Action.CLAIM, entry.ticket, entry.ticket
        else:
            action, token = (Action.RESUME, entry.token) if isinstance(entry, Resume) else (Action.WATCH, "")
        request = SeatRequest(req_id, action, lobby.name, where.room_id, token, self._node, conn_id)
        reply = asyncio.get_running_loop().create_future()
        durable = self._local.is_durable(lobby)
        pending = _Pending(reply, where.host, sock, conn_id, where.room_id, durable, action is not Action.WATCH)
        self._pending[req_id] = pending
        self._send_request(where.host, request)
        try:
            refusal = await asyncio.wait_for(asyncio.shield(pending.reply), self._timeout)
        except TimeoutError:
            refusal = _NO_ANSWER
        finally:
            self._pending.pop(req_id, None)
        if refusal is not None:
            if self._bridges.unbridge(conn_id) is not None:  # accepted too late: let the host know we are gone
                self._bus.send(where.host, Kind.EXIT, conn_id, CloseCode.GOING_AWAY, "")
            return refusal
        return self._bridges.get(conn_id)

    def _send_request(self, host: str, r: SeatRequest) -> None:
        self._bus.send(host, Kind.REQUEST, r.req_id, r.action.value, r.lobby, r.room_id, r.token, r.edge, r.conn_id)

    def _on_reply(self, *args: Any) -> None:
        reply = SeatReply(*args)
        pending = self._pending.get(reply.req_id)
        if pending is None or pending.reply.done():
            return
        if reply.error is None:
            # Registered now, before the host's next message to it is read.
            self._bridges.bridge(pending.sock, pending.host, pending.conn_id, pending.room_id, durable=pending.durable, player=pending.player)
            pending.reply.set_result(None)
        else:
            pending.reply.set_result(Refusal(reply.error, reply.detail))

    def peer_lost(self, peer: str) -> None:
        """*peer* is gone: what we asked it is refused."""
        for pending in list(self._pending.values()):
            if pending.host == peer and not pending.reply.done():
                # A durable room is adopted by another process: try again shortly.
                pending.reply.set_result(MOVING if pending.durable else _UNKNOWN_ROOM)

    # ------------------------------------------------------------------ host

    def _on_request(self, req_id: str, action: str, lobby_name: str, room_id: str, token: str, edge: str, conn_id: str) -> None:
        """A player reconnecting, or a spectator, through another process."""
        request = SeatRequest(req_id, Action(action), lobby_name, room_id, token, edge, conn_id)
        lobby = self._local.lobby(request.lobby)
        if room_id in self._local.adopting:
            self._reply(edge, SeatReply(req_id, MOVING.error, MOVING.detail))
            return
        if lobby is None:
            self._reply(edge, SeatReply(req_id, _UNKNOWN_ROOM.error, _UNKNOWN_ROOM.detail))
            return
        hosted = self._local.get(room_id)
        admission = lobby.admit(room_id, hosted.room if hosted is not None else None, request.entry())
        if isinstance(admission, Refusal):
            self._reply(edge, SeatReply(req_id, admission.error, admission.detail))
            return
        sock = self._bridges.remote(edge, conn_id, room_id)
        self._reply(edge, SeatReply(req_id, None, ""))
        self._local.spawn(admission.enter(sock))

    def _reply(self, edge: str, reply: SeatReply) -> None:
        self._bus.send(edge, Kind.REPLY, reply.req_id, reply.error, reply.detail)
