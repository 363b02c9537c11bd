"""Presence: which processes of the cluster are alive.

Each process refreshes ``node:<id>`` (TTL ``node_ttl``) every ``heartbeat``
seconds and sweeps the nodes whose key expired (the SWEEP script: their
waiting tickets, room records and inbox go).  It checks the peers it shares
players or requests with, and reports those that are gone; it notices its own
eviction (its key had expired: Redis restarted, or it was cut off too long).
The same beat learns the seat-token secret the cluster shares.  The presence
loop also re-runs the rated queues' matching between beats.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Protocol

from .bus import Bus
from .store import REDIS_ERRORS, Store

__all__ = ["Presence", "Members"]

logger = logging.getLogger("rooms.redis")


class Members(Protocol):
    """What presence needs from the rest of this process's backend."""

    def peers(self) -> set[str]:
        """The processes we share a player or a pending request with."""

    def peer_lost(self, peer: str) -> None:
        """*peer* is dead (or we are cut off from it): end what we share with it."""

    async def evicted(self) -> None:
        """The cluster took us for dead: end every bridge, register again."""

    async def resumed(self) -> None:
        """Redis is reachable again after an outage."""

    async def tick(self) -> None:
        """Re-match the rated queues (bands widen with time)."""

    async def beat(self) -> None:
        """After each heartbeat: durable rooms' clock marks, adoptions."""


class Presence:
    """Heartbeat, sweep and peer checks for node ``store.node``."""

    __slots__ = ("_store", "_bus", "_members", "_should_stop", "heartbeat", "node_ttl", "secret", "_configured", "_registered")

    def __init__(
        self,
        store: Store,
        bus: Bus,
        members: Members,
        should_stop: Callable[[], bool],
        *,
        heartbeat: float,
        node_ttl: float,
        secret: bytes | None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._members = members
        self._should_stop = should_stop
        self.heartbeat = heartbeat
        self.node_ttl = node_ttl
        self.secret = secret  # the seat-token secret: configured, or learnt from Redis
        self._configured = secret is not None
        self._registered = False

    async def run(self) -> None:
        """Beat, check peers and tick bands until ``should_stop()``."""
        store = self._store
        delay = min(self.heartbeat, 0.5)
        next_beat = time.monotonic() + self.heartbeat
        backoff = delay
        while not self._should_stop():
            await asyncio.sleep(backoff if store.paused else delay)
            if self._should_stop():
                break
            try:
                if store.paused or time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat
                    await self.beat()
                    if store.paused:
                        store.recovered()
                        await self._members.resumed()
                    await self._check_peers()
                    await self._members.beat()
                await self._members.tick()
                backoff = delay
            except REDIS_ERRORS as exc:
                store.failed(exc)
                backoff = min(backoff * 2, 2.0)
            except Exception:
                logger.exception("node %s: error in the presence loop", store.node)

    async def beat(self) -> None:
        """Refresh this node's key; notice an eviction; sweep dead nodes."""
        store = self._store
        pipe = store.r.pipeline(transaction=False)
        pipe.set(store.key("node:" + store.node), store.instance, px=int(self.node_ttl * 1000), get=True)
        pipe.sadd(store.key("nodes"), store.node)
        if not self._configured:
            pipe.set(store.key("secret"), secrets.token_urlsafe(32), nx=True, get=True)
        else:
            pipe.set(store.key("secret"), self.secret, nx=True)
        old, _, secret = await pipe.execute()
        if not self._configured:
            if secret is None:
                secret = await store.r.get(store.key("secret"))
            self.secret = secret
        if old is not None and old.decode() != store.instance:
            if not self._registered:
                # A previous run of this node id died (kill -9) before its key expired:
                # what it held is a dead node's (its durable rooms go to adoption).
                logger.warning("node %s: taking over from a previous run (%s)", store.node, old.decode())
                await store.call("TAKEOVER", store.prefix, store.node)
            else:
                logger.error("node %s: another process uses the same node id (%s)", store.node, old.decode())
        if old is None and self._registered:
            logger.warning("node %s: evicted from the cluster (Redis restarted or unreachable too long)", store.node)
            await self._members.evicted()
        self._registered = True
        await store.call("SWEEP", store.prefix)

    async def _check_peers(self) -> None:
        store = self._store
        peers = self._members.peers()
        peers.discard(store.node)
        if not peers:
            return
        order = sorted(peers)
        pipe = store.r.pipeline(transaction=False)
        for peer in order:
            pipe.exists(store.key("node:" + peer))
        dead = [peer for peer, alive in zip(order, await pipe.execute(), strict=True) if not alive]
        if dead:
            # What a peer sent before it went (a graceful goodbye: its rooms'
            # last messages and closes) is in our inbox: read it first.
            await self._bus.read_up_to_now(2.0)
            for peer in dead:
                self._members.peer_lost(peer)

    async def leave(self) -> None:
        """Leave the cluster now (shutting down): drop our key and sweep, so the
        others see us go at once rather than after ``node_ttl``."""
        store = self._store
        try:
            async with asyncio.timeout(1.0):
                await store.r.delete(store.key("node:" + store.node))
                await store.call("SWEEP", store.prefix)
        except REDIS_ERRORS:
            pass
