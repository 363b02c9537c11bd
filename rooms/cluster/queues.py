"""Queue matching across the cluster: waiting tickets live in Redis, one sorted
set per lobby key, and Lua scripts (:mod:`rooms.cluster.scripts`) queue,
remove and match them atomically, so nobody is ever seated twice.

A complete group is a GROUP notice in the inbox of every process owning one
of its tickets.  The group's host (the process of the ticket that completed
it) has its lobby open the room, with a :class:`RemoteSocket` for each player
connected elsewhere; every other process bridges its players to that host.
Statuses: the scripts notice every process whose players' places moved (a
QUEUE notice); its announcer reads the queue and tells each of them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

from ws.closecodes import CloseCode

from .. import wire
from ..backend import Entrant, LobbyView, Seat
from ..matching import LobbyKey, Ticket
from .bridge import Bridges
from .bus import Bus, Kind, Notice
from .local import Local
from .store import REDIS_ERRORS, Store

__all__ = ["Queues", "Waiter", "queue_name", "key_of_queue"]

logger = logging.getLogger("rooms.redis")


def queue_name(lobby: str, key: LobbyKey) -> str:
    """The Redis queue of *key* in the lobby named *lobby*: ``<lobby>|<JSON [path, mode, code]>``."""
    return f"{lobby}|{json.dumps([key.path, key.mode, key.code], separators=(',', ':'))}"


def key_of_queue(queue: str) -> LobbyKey:
    """The lobby key a :func:`queue_name` stands for."""
    path, mode, code = json.loads(queue.split("|", 1)[1])
    return LobbyKey(path, mode, code)


def _jsonable(identity: Any) -> Any:
    try:
        json.dumps(identity)
        return identity
    except (TypeError, ValueError):
        return {"name": str(identity.get("name") if isinstance(identity, dict) else identity)}


class Waiter:
    """A player of this process waiting in a cluster queue."""

    __slots__ = ("lobby", "ticket", "entrant", "queue", "at", "joined", "number", "again")

    def __init__(self, lobby: LobbyView, ticket: Ticket, number: int) -> None:
        self.lobby = lobby
        self.ticket = ticket
        self.entrant = cast(Entrant, ticket.payload)
        self.queue = queue_name(lobby.name, cast(LobbyKey, ticket.key))
        self.at = ""  # join time in Redis (kept so a re-queue keeps the place)
        self.joined = False  # Redis knows the ticket (False: unknown, queue it again)
        self.number = number  # arrival order on this process
        self.again = 0  # times queued again under a new id (its first was matched out of reach)

    @property
    def tid(self) -> str:
        """The ticket's id in Redis."""
        return self.ticket.id if not self.again else f"{self.ticket.id}~{self.again}"

    @property
    def code(self) -> str | None:
        return cast(LobbyKey, self.ticket.key).code

    def tell_paused(self) -> None:
        self.entrant.send(wire.lobby_paused(self.lobby.n, self.code))


def _band_args(lobby: LobbyView) -> list[Any]:
    bands = lobby.bands
    if bands is None:
        return ["", "", ""]
    return [bands.band, bands.widen_per_second, "" if bands.max_band is None else bands.max_band]


class Queues:
    """This process's waiting players, their tickets in Redis, and the groups
    they end up in."""

    __slots__ = ("_store", "_bus", "_bridges", "_local", "_should_stop", "_clock", "_waiting", "_numbers", "_dirty", "_dirty_event", "on_matched_away")

    def __init__(
        self,
        store: Store,
        bus: Bus,
        bridges: Bridges,
        local: Local,
        should_stop: Callable[[], bool],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock  # None: the scripts read Redis's TIME
        self._bus = bus
        self._bridges = bridges
        self._local = local
        self._should_stop = should_stop
        self._waiting: dict[str, Waiter] = {}
        self._numbers = itertools.count()
        self._dirty: set[str] = set()
        self._dirty_event = asyncio.Event()
        # (waiter, room id): a ticket was matched while this process was cut off
        self.on_matched_away: Callable[[Waiter, str], Coroutine[Any, Any, None]] = self._requeue_one
        bus.handle_notice(Notice.GROUP, self._on_group)
        bus.handle_notice(Notice.QUEUE, self._on_queue)

    def __len__(self) -> int:
        """How many players wait on this process."""
        return len(self._waiting)

    def count(self, lobby: LobbyView) -> int:
        """How many players of *lobby* wait on this process."""
        return sum(1 for w in self._waiting.values() if w.lobby is lobby)

    def tickets(self, lobby: LobbyView) -> list[Ticket]:
        """The tickets of *lobby*'s players waiting on this process."""
        return [w.ticket for w in self._waiting.values() if w.lobby is lobby]

    # ------------------------------------------------------------------ joining and leaving

    async def queue(self, lobby: LobbyView, ticket: Ticket) -> None:
        """Queue *ticket* in Redis (or, while Redis is away, tell the player matching is paused)."""
        w = Waiter(lobby, ticket, next(self._numbers))
        self._waiting[ticket.id] = w
        if self._store.paused:
            w.tell_paused()
        else:
            await self._join(w)

    def leave(self, ticket: Ticket) -> bool:
        """Forget *ticket* here now; its LEAVE goes with the writer's next batch."""
        w = self._waiting.pop(ticket.id, None)
        if w is None:
            return False
        self._leave_soon(w)
        return True

    async def withdraw(self, ticket: Ticket) -> bool:
        """Remove *ticket* from its queue now; False if it was matched first."""
        w = self._waiting.get(ticket.id)
        if w is None or not w.joined:
            self._waiting.pop(ticket.id, None)
            return True
        store = self._store
        try:
            removed = await store.call("LEAVE", store.prefix, w.tid)
        except REDIS_ERRORS as exc:
            store.failed(exc)
            self._waiting.pop(w.ticket.id, None)  # gone for us; a late group finds it missing
            return True
        if removed:
            self._waiting.pop(w.ticket.id, None)
        return bool(removed)

    async def has_key(self, lobby: LobbyView, key: LobbyKey) -> bool | None:
        """Whether anyone waits under *key*; ``None`` when Redis cannot be reached."""
        store = self._store
        try:
            return bool(await store.r.exists(store.key("q:" + queue_name(lobby.name, key))))
        except REDIS_ERRORS as exc:
            store.failed(exc)
            return None

    def _now(self) -> str:
        """The time for a script's "now" argument: '' (Redis's TIME) without a clock."""
        return "" if self._clock is None else repr(float(self._clock()))

    async def _join(self, w: Waiter) -> None:
        store, lobby = self._store, w.lobby
        now = self._now()
        data = json.dumps({"identity": _jsonable(w.entrant.identity)}, separators=(",", ":"))
        try:
            status, at = await store.call(
                "JOIN",
                store.prefix,
                w.queue,
                w.tid,
                store.node,
                w.at or now,
                "" if w.ticket.rating is None else w.ticket.rating,
                data,
                lobby.n,
                lobby.name,
                *_band_args(lobby),
                w.ticket.spread,
                "1" if self._local.is_durable(lobby) else "",
                now,
            )
        except REDIS_ERRORS as exc:
            store.failed(exc)
            if w.ticket.id in self._waiting:
                w.tell_paused()
            return
        if status == -1:  # our node key is missing: the next heartbeat sorts it out
            store.failed(ConnectionError("node not registered"))
            return
        w.joined = True
        w.at = at.decode() if isinstance(at, bytes) else at
        if status == 2:  # matched while this process was cut off: claim that seat
            w.joined = True
            self._waiting.pop(w.ticket.id, None)
            self._local.spawn(self.on_matched_away(w, at.decode() if isinstance(at, bytes) else at))
            return
        if w.ticket.id not in self._waiting:
            self._leave_soon(w)  # the player left while the join was on its way
        else:
            self._mark_dirty(w.queue)

    def _leave_soon(self, w: Waiter) -> None:
        if not w.joined:
            return
        store = self._store

        async def leave(pipe: Any) -> None:
            store.pipe_call(pipe, "LEAVE", store.prefix, w.tid)

        self._bus.command(leave)

    # ------------------------------------------------------------------ outages

    async def _requeue_one(self, w: Waiter, room_id: str) -> None:
        self.queue_again(w)

    def pause(self) -> None:
        """Redis is away: every ticket's state is unknown; tell the players."""
        for w in list(self._waiting.values()):
            w.joined = False  # unknown: queue it again (idempotent) when Redis is back
            w.tell_paused()

    def forget_joins(self) -> None:
        """Redis lost our tickets (this node was evicted): queue them all again."""
        for w in self._waiting.values():
            w.joined = False

    async def requeue(self) -> None:
        """Queue every waiting player again, in their order (a no-op for those Redis knows)."""
        for w in sorted(self._waiting.values(), key=lambda w: w.number):
            if not w.joined and w.ticket.id in self._waiting and not w.entrant.sock.closed:
                await self._join(w)
                if self._store.paused:
                    return
            self._mark_dirty(w.queue)

    async def tick(self) -> None:
        """Re-match the rated queues of our players (bands widen with time)."""
        store = self._store
        queues = {w.queue: w.lobby for w in self._waiting.values() if w.joined and w.lobby.bands is not None}
        if not queues:
            return
        now = self._now()  # one time for every queue, as Matchmaker.tick(now)
        for queue, lobby in queues.items():
            durable = "1" if self._local.is_durable(lobby) else ""
            await store.call("TICK", store.prefix, queue, lobby.n, lobby.name, *_band_args(lobby), durable, store.node, now)

    # ------------------------------------------------------------------ groups

    def _on_group(self, msg: dict[str, Any]) -> None:
        """A group was matched in Redis: bridge our players, host the room if it is ours."""
        room_id, host = msg["room"], msg["host"]
        node = self._store.node
        if host == node:
            self._host(msg)
            return
        for tid, owner, _data in msg["seats"]:
            if owner != node:
                continue
            w = self._pop(tid)
            if w is None or w.entrant.sock.closed or not w.entrant.waiting:
                sock = w.entrant.sock if w is not None else None
                code = sock.close_code if sock is not None and sock.close_code is not None else 1000
                self._bus.send(host, Kind.EXIT, tid, code, "left while being seated")
                continue
            durable = self._local.is_durable(w.lobby)
            w.entrant.bridged(self._bridges.bridge(w.entrant.sock, host, tid, room_id, durable=durable, lobby=w.lobby.name))

    def _pop(self, tid: str) -> Waiter | None:
        """The waiter of Redis ticket *tid*, taken out of the waiting list."""
        w = self._waiting.get(tid.split("~", 1)[0])
        if w is None or w.tid != tid:
            return None
        return self._waiting.pop(w.ticket.id)

    def queue_again(self, w: Waiter) -> None:
        """*w* was matched into a room it cannot reach: queue it again under a new
        id, keeping its place."""
        if w.entrant.sock.closed or not w.entrant.waiting:
            return
        w.again += 1
        w.joined = False
        self._waiting[w.ticket.id] = w
        self._local.spawn(self._join(w))

    def _host(self, msg: dict[str, Any]) -> None:
        room_id, node, local = msg["room"], self._store.node, self._local
        lobby = local.lobby(msg["lobby"])
        seats: list[Seat] = []
        for tid, owner, data in msg["seats"]:
            identity = json.loads(data).get("identity")
            if owner == node:
                w = self._pop(tid)
                if w is not None and w.entrant.waiting:
                    seats.append(Seat(identity, w.entrant.sock, w.entrant))
                else:
                    seats.append(Seat(identity, self._bridges.departed(owner, tid, room_id)))
            else:
                seats.append(Seat(identity, self._bridges.remote(owner, tid, room_id)))
        if lobby is None or local.server is None:
            logger.error("node %s: no lobby named %r for room %s", node, msg["lobby"], room_id)
            for seat in seats:
                seat.sock.close(CloseCode.INTERNAL_ERROR, "internal error")
            return
        lobby.open_room(room_id, key_of_queue(msg["q"]), seats, local.server)

    # ------------------------------------------------------------------ lobby statuses

    def _on_queue(self, msg: dict[str, Any]) -> None:
        self._mark_dirty(msg["q"])

    def _mark_dirty(self, queue: str) -> None:
        self._dirty.add(queue)
        self._dirty_event.set()

    def wake(self) -> None:
        """Have the announcer look again now (shutting down)."""
        self._dirty_event.set()

    async def announcer(self) -> None:
        """Send ``lobby`` statuses to our waiting players of each queue that changed."""
        store = self._store
        while not self._should_stop():
            try:
                await asyncio.wait_for(self._dirty_event.wait(), 1.0)
            except TimeoutError:
                continue
            self._dirty_event.clear()
            queues, self._dirty = self._dirty, set()
            for queue in queues:
                mine = [w for w in self._waiting.values() if w.queue == queue]
                if not mine:
                    continue
                try:
                    ids = [i.decode() for i in await store.r.zrange(store.key("q:" + queue), 0, -1)]
                except REDIS_ERRORS as exc:
                    store.failed(exc)
                    break
                for w in mine:
                    if w.tid not in ids or w.ticket.id not in self._waiting:
                        continue
                    w.entrant.send(wire.lobby_status(len(ids), w.lobby.n, ids.index(w.tid) + 1, w.code))
