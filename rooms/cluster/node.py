"""``RedisBackend``: this process's membership in a cluster, and the
:class:`rooms.Backend` its lobbies use.

It wires the parts together and runs their loops: the :class:`Store` (the
Redis connection), the :class:`Bus` (inbox and outbox), :class:`Presence`,
:class:`Queues`, :class:`Bridges` and :class:`Requests`; each does one job and
they call each other only through public methods.  Durable rooms: the
:class:`~.log.RedisLog` of each room hosted here, :class:`~.adopt.Adoptions`
of rooms whose host is gone, and the handover of this process's rooms when
it drains or loses its lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

import ws
from ws.closecodes import CloseCode

from ..backend import Backend, Claim, Elsewhere, Entry, Hosted, LobbyView, Refusal
from ..log import Kind, Meta
from ..matching import LobbyKey, Ticket
from ..room import Room
from .admin import ClusterAdmin
from .adopt import Adoptions
from .bridge import Bridge, Bridges, RemoteSocket
from .bus import Bus
from .local import Local
from .log import RedisLog
from .presence import Presence
from .queues import Queues, Waiter
from .requests import MOVING, Requests
from .store import HAVE_REDIS, REDIS_ERRORS, Store

__all__ = ["RedisBackend"]

logger = logging.getLogger("rooms.redis")

_MOVED = "room moved to another server: reconnect with your seat token"
_WATCH_AGAIN = "room moved to another server: watch again"


class RedisBackend(Backend):
    """This process's membership in a cluster sharing one Redis server.

    ``url`` is a ``redis://`` (or ``rediss://``, ``unix://``) URL; ``prefix``
    starts every key, so several apps can share one Redis; ``node_id`` names this
    process (unique in the cluster; default: host name, pid and a random part).
    A dead process is noticed within ``node_ttl + heartbeat`` seconds.  ``secret``
    signs seat tokens (any process must accept any token): pass the same value to
    every process, or leave it out and the first process stores a random one in
    Redis for the others.

    Pass one backend to every lobby of the app (``rooms.Lobby(..., backend=b)``);
    lobbies are told apart by their ``name`` (default: the game function's name),
    which must be the same on every process.  The backend starts with the first
    request (or ``await backend.start(server)``); its tasks are owned by the
    server and end when the server closes.

    ``durable`` (default True): every room keeps an input log in Redis and
    survives its host (a lobby can opt out with ``durable=False``); the rooms
    of a process that dies are adopted by another within about ``node_ttl +
    heartbeat`` seconds plus the replay.  ``drain_timeout``: how long
    ``server.close()`` waits for this process's rooms to be handed over.
    ``adopt_wait``: how long a player connected here waits for a room that
    lost its host to be adopted before being told it ended.

    ``clock``: for tests and simulations, a callable returning seconds, used
    instead of Redis's clock (``TIME``) for the tickets' join times and the
    time matching runs at (rating bands widen with it).  Production leaves it
    ``None``, so that every process shares Redis's clock.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "rooms:",
        node_id: str | None = None,
        heartbeat: float = 1.0,
        node_ttl: float = 3.0,
        secret: bytes | str | None = None,
        request_timeout: float = 5.0,
        durable: bool = True,
        drain_timeout: float = 30.0,
        adopt_wait: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not HAVE_REDIS:
            raise RuntimeError("RedisBackend needs the redis package: pip install 'wsrooms[redis]'")
        if node_ttl <= heartbeat:
            raise ValueError("node_ttl must be longer than the heartbeat")
        self.url = url
        self.prefix = prefix
        self.node = node_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.instance = f"{self.node}/{secrets.token_hex(4)}"  # this run of the process
        self.heartbeat = heartbeat
        self.node_ttl = node_ttl
        self.request_timeout = request_timeout
        self.durable = durable
        self.drain_timeout = drain_timeout
        self._logs: dict[str, RedisLog] = {}  # durable rooms hosted here
        self._handovers: set[asyncio.Task[None]] = set()
        self._started: asyncio.Future[None] | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        block_ms = max(50, int(min(heartbeat, 1.0) * 1000))  # the inbox's blocking reads
        self._store = store = Store(url, prefix, self.node, self.instance, block_ms=block_ms)
        self._local = Local(durable)
        self._bus = Bus(store, self._should_stop)
        self._bridges = Bridges(self._bus, adopt_wait if adopt_wait is not None else 3 * node_ttl + 10.0)
        self._requests = Requests(self._bus, self._bridges, self._local, self.node, request_timeout)
        self._queues = Queues(store, self._bus, self._bridges, self._local, self._should_stop, clock=clock)
        self._queues.on_matched_away = self._matched_away
        self._adoptions = Adoptions(store, self._bus, self._bridges, self._local, self._adopted, self._lost)
        self._presence = Presence(
            store,
            self._bus,
            _Members(self),
            self._should_stop,
            heartbeat=heartbeat,
            node_ttl=node_ttl,
            secret=secret.encode() if isinstance(secret, str) else secret,
        )
        store.on_pause = self._queues.pause
        self._admin = ClusterAdmin(store, self._bus, self._local)

    def __repr__(self) -> str:
        return f"<RedisBackend {self.node} {self.url} prefix={self.prefix!r}>"

    @property
    def paused(self) -> bool:
        """True while Redis cannot be reached (matching is paused)."""
        return self._store.paused

    @property
    def secret(self) -> bytes | None:
        """The seat-token secret: the configured one, or the one stored in Redis
        (known once this process has reached Redis)."""
        return self._presence.secret

    def attach(self, lobby: LobbyView) -> None:
        self._local.attach(lobby)

    @property
    def lag(self) -> float:
        """Seconds between the newest message of the last batch read from this
        process's inbox being written to Redis and its being read (Redis's clock
        against ours: on different machines, their skew adds to it)."""
        return self._bus.lag

    def waiting_tickets(self, lobby: LobbyView) -> list[Ticket]:
        return self._queues.tickets(lobby)

    def collect_metrics(self, builder: ws.MetricsBuilder) -> None:
        """The cluster's metrics of this process, labelled with its ``node``."""
        stats, node = self.statistics(), (self.node,)
        builder.gauge("rooms_cluster_bridge_lag_seconds", "Delay of the last batch of cluster messages read from this process's inbox.", ("node",)).add(node, self.lag)
        builder.gauge("rooms_cluster_outbound_messages", "Cluster messages queued here, not yet written to Redis.", ("node",)).add(node, stats["outbound"])
        builder.gauge("rooms_cluster_remote_players", "Players of rooms hosted here who are connected to another process.", ("node",)).add(node, stats["remote_players"])
        builder.gauge("rooms_cluster_bridged_players", "Players connected here who are seated in rooms hosted elsewhere.", ("node",)).add(node, stats["bridged_players"])
        builder.gauge("rooms_cluster_paused", "1 while Redis cannot be reached (matching paused), else 0.", ("node",)).add(node, 1 if self.paused else 0)

    async def admin_snapshots(self, timeout: float) -> list[dict[str, Any]] | None:
        """Every other live process's snapshot, asked through Redis (see :mod:`rooms.cluster.admin`)."""
        return await self._admin.snapshots(timeout)

    async def admin_action(self, node: str, action: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._admin.action(node, action, timeout)

    def statistics(self) -> dict[str, int]:
        """What this process holds: waiting tickets, hosted rooms, bridges, queued messages."""
        return {
            "waiting": len(self._queues),
            "rooms": len(self._local),
            "remote_players": self._bridges.remote_count,
            "bridged_players": self._bridges.bridged_count,
            "outbound": len(self._bus),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, server: ws.Server | None = None) -> None:
        """Connect and start the background tasks (owned by *server*); idempotent."""
        if self._started is not None:
            await asyncio.shield(self._started)
            return
        self._started = asyncio.get_running_loop().create_future()
        try:
            self._local.server = server
            self._store.connect()
            try:
                await asyncio.wait_for(self._presence.beat(), 3.0)
            except REDIS_ERRORS as exc:
                self._store.failed(exc)
            coro = self._main()
            self._task = server.spawn(coro) if server is not None else asyncio.get_running_loop().create_task(coro)
        finally:
            self._started.set_result(None)

    async def aclose(self) -> None:
        """Leave the cluster now: stop the tasks, drop this node's key and tickets."""
        self._stopping = True
        self._wake_all()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    def _wake_all(self) -> None:
        self._bus.wake()
        self._queues.wake()

    def _should_stop(self) -> bool:
        if self._stopping:
            return True
        server = self._local.server
        if server is not None and server.closing:
            bridges = self._bridges
            busy = len(self._queues) or len(self._local) or bridges.bridged_count or bridges.remote_count or len(self._bus)
            if not (busy or self._handovers):
                self._stopping = True
        return self._stopping

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loops = (self._bus.reader(), self._bus.writer(), self._presence.run(), self._queues.announcer())
        tasks = [loop.create_task(c) for c in loops]
        try:
            # They end by themselves once _should_stop(); a crash of one stops all.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    logger.error("node %s: backend task failed", self.node, exc_info=task.exception())
        finally:
            try:
                await self._leave_cluster(tasks)
            except asyncio.CancelledError:
                pass
            finally:
                for task in tasks:
                    task.cancel()

    async def _leave_cluster(self, tasks: list[asyncio.Task[None]]) -> None:
        """Shutting down (the server cancels the work it owns first, games
        included): let the cancelled games queue their last messages, let the
        loops send them and stop (they are never cancelled mid-command: a
        cancelled blocking read can hang in the client), then leave the cluster,
        so others see this node go at once rather than after node_ttl."""
        await asyncio.sleep(0.05)
        if self._handovers:  # rooms handed over: their last entries and release first
            await asyncio.wait(set(self._handovers), timeout=self.drain_timeout)
        self._stopping = True
        self._wake_all()
        await asyncio.wait(tasks, timeout=self._store.block_ms / 1000 + 1.5)
        await self._presence.leave()
        await self._store.close()

    # ------------------------------------------------------------------ the Backend contract

    async def queue(self, lobby: LobbyView, ticket: Ticket) -> None:
        await self._queues.queue(lobby, ticket)

    def leave(self, ticket: Ticket) -> bool:
        return self._queues.leave(ticket)

    async def withdraw(self, ticket: Ticket) -> bool:
        return await self._queues.withdraw(ticket)

    async def has_key(self, lobby: LobbyView, key: LobbyKey) -> bool | None:
        return await self._queues.has_key(lobby, key)

    def waiting_count(self, lobby: LobbyView) -> int:
        return self._queues.count(lobby)

    def remove_room(self, room: Room) -> None:
        """A room hosted here ended: forget it here and in Redis."""
        self._local.remove(room.id)
        self._bridges.room_over(room.id)
        store = self._store
        log = self._logs.pop(room.id, None)
        if log is not None:

            async def drop() -> None:  # after its last entries; only while it is ours
                await log.close()
                if not log.lost:
                    await store.call("DROP", store.prefix, room.id, store.node, str(log.epoch))

            self._track(drop())
            return
        room_key, hosted = store.key("room:" + room.id), store.key("nr:" + self.node)

        async def forget(pipe: Any) -> None:
            pipe.delete(room_key)
            pipe.srem(hosted, room.id)

        self._bus.command(forget)

    def rooms(self, lobby: LobbyView) -> list[Room]:
        return self._local.rooms_of(lobby)

    async def find_room(self, lobby: LobbyView, room_id: str) -> Hosted | Elsewhere | Refusal | None:
        hosted = self._local.get(room_id)
        if hosted is not None and hosted.lobby is lobby:
            return Hosted(hosted.room)
        if room_id in self._local.adopting:
            return MOVING
        store = self._store
        try:
            host = await store.r.hget(store.key("room:" + room_id), "host")
            alive = bool(host) and bool(await store.r.exists(store.key("node:" + host.decode())))
        except REDIS_ERRORS as exc:
            store.failed(exc)
            return Refusal("unavailable", "the cluster is unreachable; try again shortly")
        if host is None or host.decode() == self.node:
            return None
        if not alive:
            return MOVING  # its host is gone (or handed it over): it is being adopted
        return Elsewhere(room_id, host.decode())

    async def request_seat(self, lobby: LobbyView, sock: ws.MessageSocket, where: Elsewhere, entry: Entry) -> Bridge | Refusal:
        return await self._requests.request(lobby, sock, where, entry)

    async def relay(self, handle: Any) -> None:
        if not isinstance(handle, Bridge):
            raise TypeError(f"not a bridge of this backend: {handle!r}")
        await self._bridges.relay(handle)

    # ------------------------------------------------------------------ durable rooms

    def open_log(self, lobby: LobbyView, meta: Meta, *, required: bool = False) -> RedisLog | None:
        if not self._local.is_durable(lobby):
            if required:
                raise ValueError("this RedisBackend was built with durable=False")
            return None
        log = RedisLog(self._store, meta.room_id, 1)
        log.record([Kind.OPEN.value, meta.to_list()])
        return log

    def locate(self, sock: Any) -> tuple[str, str]:
        if isinstance(sock, RemoteSocket):
            return (sock.edge, sock.conn_id)
        return (self.node, "") if isinstance(sock, ws.WebSocket) else ("", "")

    def add_room(self, lobby: LobbyView, room: Room) -> None:
        self._local.add(lobby, room)
        log = room.log
        if isinstance(log, RedisLog):
            log.on_lost = lambda: self._lost(room)
            self._logs[room.id] = log

    def _adopted(self, lobby: LobbyView, room: Room, log: RedisLog) -> None:
        """A room adopted here went live."""
        self._local.add(lobby, room)
        self._logs[room.id] = log

    def hands_over(self, room: Room) -> bool:
        return room.log is not None  # a durable room: another process adopts it

    def hand_over(self, room: Room) -> bool:
        """Draining: stop *room* here and release it for another process to adopt."""
        log = self._logs.get(room.id)
        if log is None or log.lost:
            return False
        self._stop(room, moving=True)
        store = self._store

        async def release() -> None:
            await log.close()
            try:
                await store.call("RELEASE", store.prefix, room.id, store.node, str(log.epoch))
            except REDIS_ERRORS:
                pass

        self._track(release())
        return True

    def _lost(self, room: Room) -> None:
        """This process lost *room*'s lease: stop it here without a word to anyone
        but our own players (1012: reconnect, the seat token still works)."""
        if not room.moved:
            self._stop(room, moving=False)

    def _stop(self, room: Room, *, moving: bool) -> None:
        self._logs.pop(room.id, None)
        self._local.remove(room.id)
        room.stop()
        self._bridges.drop_room(room.id, moving_from=self.node if moving else None)
        for player in room.players:
            if isinstance(player.sock, ws.WebSocket):
                player.sock.close(CloseCode.SERVICE_RESTART, _MOVED)
        for spectator in room.spectators:
            if isinstance(spectator.sock, ws.WebSocket):
                spectator.sock.close(CloseCode.SERVICE_RESTART, _WATCH_AGAIN)

    def _track(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)

    async def _matched_away(self, w: Waiter, room_id: str) -> None:
        """*w*'s ticket was matched while this process was cut off: claim its seat
        from the room's host, or queue it again if that fails."""
        where = await self.find_room(w.lobby, room_id)
        if isinstance(where, Elsewhere) and not w.entrant.sock.closed:
            handle = await self._requests.request(w.lobby, w.entrant.sock, where, Claim(w.tid))
            if isinstance(handle, Bridge):
                w.entrant.bridged(handle)
                return
        self._queues.queue_again(w)


    async def _reclaim(self, bridge: Bridge) -> None:
        """*bridge*'s player was matched while this process was cut off and never
        heard of it (no ``matched``, no token): claim its seat from the room's
        host once the room is adopted, keeping the connection; if that cannot be
        done within ``adopt_wait``, tell the player to join again (1013)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._bridges.adopt_wait
        lobby = self._local.lobby(bridge.lobby or "")
        while lobby is not None and not bridge.sock.closed and loop.time() < deadline:
            where = await self.find_room(lobby, bridge.room_id)
            if isinstance(where, Elsewhere):
                claimed = await self._requests.request(lobby, bridge.sock, where, Claim(bridge.conn_id))
                if isinstance(claimed, Bridge):
                    self._bridges.follow(bridge, claimed)
                    return
                where = claimed
            if where != MOVING:
                break
            await asyncio.sleep(self.heartbeat)  # the room is being adopted: ask again next beat
        bridge.host_lost = True
        bridge.sock.close(CloseCode.TRY_AGAIN_LATER, "the match was lost: join again")


class _Members:
    """What presence asks of the rest of the node (:class:`Members`): peers,
    their loss, an eviction, the end of an outage, the band ticks, each beat."""

    __slots__ = ("_b",)

    def __init__(self, backend: RedisBackend) -> None:
        self._b = backend

    def peers(self) -> set[str]:
        """The processes we share a bridged player or a pending request with."""
        b = self._b
        return b._bridges.peers() | b._requests.peers()

    def peer_lost(self, peer: str) -> None:
        """*peer* is dead (or we are cut off from it): end what we share with it."""
        b = self._b
        logger.warning("node %s: node %s is gone", b.node, peer)
        b._bridges.peer_lost(peer)
        b._requests.peer_lost(peer)
        b._bus.drop_for(peer)

    async def evicted(self) -> None:
        """Our key had expired (we were paused or cut off longer than node_ttl, or
        Redis restarted): the others took us for dead and may have adopted our
        rooms, so we give every room up.  Durable rooms stop here silently and are
        released (a no-op for those adopted already); the others end with 1012,
        as their players elsewhere were told.  Nothing is registered again."""
        b = self._b
        b._bus.rewind()
        for peer in b._bridges.peers() | b._requests.peers():
            b._requests.peer_lost(peer)
            b._bus.drop_for(peer)
        for bridge in b._bridges.cut_off():
            b._local.spawn(b._reclaim(bridge))
        for hosted in b._local.hosted():
            room = hosted.room
            log = b._logs.get(room.id)
            if log is None:
                room.end(None, CloseCode.SERVICE_RESTART, "room host lost")
                continue
            b._stop(room, moving=False)
            store = b._store
            await store.call("RELEASE", store.prefix, room.id, store.node, str(log.epoch))
        b._queues.forget_joins()
        await b._queues.requeue()

    async def resumed(self) -> None:
        """Redis is back: queue our waiting players again."""
        await self._b._queues.requeue()

    async def tick(self) -> None:
        """Re-match the rated queues of our players."""
        await self._b._queues.tick()

    async def beat(self) -> None:
        """After each heartbeat: mark the clocks of our durable rooms, claim orphans."""
        b = self._b
        for hosted in b._local.hosted():
            if hosted.room.id in b._logs:
                hosted.room.mark()
        await b._adoptions.claim()
