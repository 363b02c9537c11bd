"""Adoption: a live process takes over the durable rooms whose host is gone.

Each heartbeat, a process that is not draining claims a few orphans (the
CLAIM script: a room whose host's lease lapsed, or that its host released,
gets this process as host and its epoch one higher).  For each, it reads the
room's log, finds which players are still connected through a live process,
and has the room's lobby rebuild it (``LobbyView.adopt_room``): the game runs
from the start over the logged inputs with nothing sent and its outputs
compared, then goes live.  At that moment the room is registered here, and the
edges of its connected players are told to follow it (MOVED); those players
get ``resumed``, the others' seats are held for a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..log import Kind, Meta
from ..room import Room
from .bridge import Bridges
from .bus import Bus
from .bus import Kind as BusKind
from .local import Local
from .log import RedisLog, read_log
from .store import REDIS_ERRORS, Store

__all__ = ["Adoptions", "connected_seats"]

logger = logging.getLogger("rooms.redis")

_PER_BEAT = 20  # orphans claimed per heartbeat at most


def connected_seats(meta: Meta, entries: list[list[Any]]) -> dict[int, tuple[str, str]]:
    """The seats whose player was connected when the log ends: seat -> (process, connection id)."""
    where: dict[int, tuple[str, str] | None] = {s.seat: (s.edge, s.conn) for s in meta.seats}
    for entry in entries:
        kind = entry[0]
        if kind == Kind.AWAY.value or kind == Kind.GONE.value:
            where[entry[1]] = None
        elif kind == Kind.BACK.value:
            where[entry[1]] = (entry[2], entry[3])
    return {seat: w for seat, w in where.items() if w is not None and w[0]}


class Adoptions:
    """This process's claims on orphaned rooms, and their replays."""

    __slots__ = ("_store", "_bus", "_bridges", "_local", "_register", "_on_lost", "_tasks")

    def __init__(
        self,
        store: Store,
        bus: Bus,
        bridges: Bridges,
        local: Local,
        register: Callable[[Any, Room, RedisLog], None],
        on_lost: Callable[[Room], None],
    ) -> None:
        self._store = store
        self._bus = bus
        self._bridges = bridges
        self._local = local
        self._register = register  # (lobby, room, log): the room is live here
        self._on_lost = on_lost
        self._tasks: set[asyncio.Task[None]] = set()

    async def claim(self) -> None:
        """Claim a few orphans and start adopting them (not while draining)."""
        if self._local.draining or self._local.server is None:
            return
        store = self._store
        claimed = await store.call("CLAIM", store.prefix, store.node, _PER_BEAT)
        for rid, epoch, lobby_name, old in claimed:
            rid, lobby_name, old = rid.decode(), lobby_name.decode(), old.decode()
            self._local.adopting.add(rid)
            task = asyncio.get_running_loop().create_task(self._adopt(rid, int(epoch), lobby_name, old))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _adopt(self, rid: str, epoch: int, lobby_name: str, old: str) -> None:
        store, local = self._store, self._local
        try:
            entries = await self._read(rid)
            lobby = local.lobby(lobby_name)
            log = RedisLog(store, rid, epoch)
            log.preload(entries)
            meta = log.meta()
            if lobby is None or meta is None or local.server is None:
                logger.error("node %s: cannot adopt room %s (lobby %r%s); dropping it", store.node, rid, lobby_name, "" if meta else ", no log")
                await store.call("DROP", store.prefix, rid, store.node, str(epoch))
                return
            seats = connected_seats(meta, entries)
            alive = await self._alive({edge for edge, _ in seats.values()} - {old})
            attach = {seat: self._bridges.remote(edge, conn, rid) for seat, (edge, conn) in seats.items() if edge in alive and conn}
            logger.warning("node %s: adopting room %s from %s (epoch %d, %d entries)", store.node, rid, old or "?", epoch, len(entries))

            def on_live(room: Room, diverged: bool) -> None:
                local.adopting.discard(rid)
                log.on_lost = lambda: self._on_lost(room)
                self._register(lobby, room, log)
                for sock in attach.values():
                    self._bus.send(sock.edge, BusKind.MOVED, sock.conn_id, store.node)

            lobby.adopt_room(log, attach, on_live, local.server)
        except REDIS_ERRORS as exc:
            store.failed(exc)
            local.adopting.discard(rid)  # the next claim by anyone retries it
            await self._release(rid, epoch)
        except Exception:
            logger.exception("node %s: error adopting room %s", store.node, rid)
            local.adopting.discard(rid)
            await self._release(rid, epoch)  # not stranded here: another process may try

    async def _read(self, rid: str) -> list[list[Any]]:
        return await read_log(self._store, rid)

    async def _alive(self, nodes: set[str]) -> set[str]:
        store = self._store
        order = sorted(n for n in nodes if n)
        if not order:
            return set()
        pipe = store.r.pipeline(transaction=False)
        for node in order:
            pipe.exists(store.key("node:" + node))
        return {node for node, ok in zip(order, await pipe.execute(), strict=True) if ok or node == store.node}

    async def _release(self, rid: str, epoch: int) -> None:
        store = self._store
        try:
            await store.call("RELEASE", store.prefix, rid, store.node, str(epoch))
        except REDIS_ERRORS:
            pass
