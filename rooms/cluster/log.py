"""A durable room's log on the cluster: a Redis stream per room, written under
the room's lease.

Entries are batched: whatever was appended since the last write goes in one
APPEND script call (one stream entry per batch), which Redis runs only while
this process holds the room at its epoch (:mod:`rooms.cluster.scripts`).  One
write is in flight per room; ``commit`` waits until its entry is written.
While Redis cannot be reached the writes are retried (the game waits: an input
is never given to it before it is durable).  When the script says the lease
is lost, the room is stopped here (``on_lost``) and the waiting game gets
:class:`rooms.exceptions.RoomMoved`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..exceptions import RoomMoved
from ..log import RoomLog, pack, unpack
from .store import REDIS_ERRORS, Backoff, Store

__all__ = ["RedisLog", "read_log"]

logger = logging.getLogger("rooms.redis")

_BATCH = 500  # entries per stream entry at most


class RedisLog(RoomLog):
    """The log of room *room_id*, held by this process at *epoch*."""

    __slots__ = ("_store", "room_id", "epoch", "on_lost", "lost", "_writer", "_done")

    def __init__(self, store: Store, room_id: str, epoch: int, on_lost: Callable[[], None] = lambda: None) -> None:
        RoomLog.__init__(self)
        self._store = store
        self.room_id = room_id
        self.epoch = epoch
        self.on_lost = on_lost
        self.lost = False
        self._writer: asyncio.Task[None] | None = None
        self._done: asyncio.Event | None = None

    def written(self) -> None:
        """Entries were appended: make sure a write is on its way."""
        if self.lost or self._writer is not None:
            return
        if self._done is None:
            self._done = asyncio.Event()
        self._done.clear()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def preload(self, entries: list[list[Any]]) -> None:
        """Entries read back from Redis (an adoption): durable already."""
        self.entries.extend(entries)
        self._flushed = len(self.entries)

    async def flush(self) -> None:
        """Wait until every entry appended so far is written (``RoomMoved`` if the lease is lost)."""
        target = len(self.entries)
        while self._flushed < target:
            if self.lost:
                raise RoomMoved(self.room_id)
            self.written()
            assert self._done is not None
            await self._done.wait()
        if self.lost:
            raise RoomMoved(self.room_id)

    async def close(self) -> None:
        """Write what is left, for at most a few seconds (a handover)."""
        try:
            await asyncio.wait_for(self.flush(), 5.0)
        except (TimeoutError, RoomMoved):
            pass

    async def _write(self) -> None:
        store = self._store
        backoff = Backoff()
        try:
            while self._flushed < len(self.entries) and not self.lost:
                upto = min(len(self.entries), self._flushed + _BATCH)
                batch = pack(self.entries[self._flushed : upto])
                try:
                    ok = await store.call("APPEND", store.prefix, self.room_id, store.node, str(self.epoch), batch)
                except REDIS_ERRORS as exc:
                    await backoff.failed(store, exc)
                    continue
                backoff.reset()
                if not ok:
                    logger.warning("node %s: lost the lease of room %s (epoch %d); stopping it here", store.node, self.room_id, self.epoch)
                    self.lost = True
                    self.on_lost()
                    break
                self._flushed = upto
        finally:
            self._writer = None
            if self._done is not None:
                self._done.set()
            if self._flushed < len(self.entries) and not self.lost:
                self.written()  # appended while the last batch was on its way


async def read_log(store: Store, room_id: str) -> list[list[Any]]:
    """Every entry of room *room_id*'s log, in order."""
    entries: list[list[Any]] = []
    start = "-"
    while True:
        chunk = await store.r.xrange(store.key("log:" + room_id), min=start, count=1000)
        if not chunk:
            return entries
        for _entry_id, fields in chunk:
            entries.extend(unpack(fields[b"e"]))
        last = chunk[-1][0]
        last = last.decode() if isinstance(last, bytes) else last
        start = "(" + last
