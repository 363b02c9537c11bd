"""This process's connection to the cluster's Redis: the clients, the key
names, the Lua scripts, and whether Redis can be reached right now.

Every part of the cluster backend talks to Redis through one :class:`Store`;
when a call fails it reports it with :meth:`Store.failed`, which pauses
matching once (the queues tell their waiting players) until the presence loop
reaches Redis again and calls :meth:`Store.recovered`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from . import scripts

try:  # the ``redis`` extra
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - checked when a RedisBackend is created
    aioredis = None  # type: ignore[assignment]
    RedisError = OSError  # type: ignore[assignment,misc]

__all__ = ["Store", "Backoff", "REDIS_ERRORS", "HAVE_REDIS", "stream_id"]

logger = logging.getLogger("rooms.redis")

HAVE_REDIS = aioredis is not None

# What a Redis call can raise when the server is away or slow.
REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

_SCRIPTS = ("JOIN", "LEAVE", "TICK", "SWEEP", "SEND", "APPEND", "CLAIM", "RELEASE", "DROP", "TAKEOVER")


def stream_id(entry_id: str | bytes) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``) as a pair that compares in stream order."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Backoff:
    """The pause of a loop whose Redis call failed: 50 ms, doubling up to *cap*
    seconds while it keeps failing; ``reset()`` after a call that worked."""

    __slots__ = ("delay", "cap")

    def __init__(self, cap: float = 1.0) -> None:
        self.delay = 0.05
        self.cap = cap

    async def failed(self, store: Store, exc: BaseException) -> None:
        """Tell *store* (matching pauses), then wait before the next try."""
        store.failed(exc)
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.cap)

    def reset(self) -> None:
        self.delay = 0.05


class Store:
    """The Redis clients of node *node* (this run: *instance*) and its key names.

    ``r`` runs commands through a bounded pool; ``rb`` is kept for the inbox's
    blocking reads (``block_ms``).  ``paused`` is True while Redis cannot be
    reached; ``on_pause`` is called when it becomes so.
    """

    __slots__ = ("url", "prefix", "node", "instance", "block_ms", "r", "rb", "scripts", "paused", "on_pause")

    def __init__(self, url: str, prefix: str, node: str, instance: str, *, block_ms: int) -> None:
        self.url = url
        self.prefix = prefix
        self.node = node
        self.instance = instance
        self.block_ms = block_ms
        self.r: Any = None  # commands
        self.rb: Any = None  # blocking reads of the inbox
        self.scripts: dict[str, Any] = {}
        self.paused = False
        self.on_pause: Callable[[], None] = lambda: None

    def key(self, name: str) -> str:
        """The Redis key *name* under this cluster's prefix."""
        return self.prefix + name

    def connect(self) -> None:
        """Create the clients and register the scripts (connections open on first use)."""
        options: dict[str, Any] = dict(
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 1),  # one quick retry: a pooled connection may be stale
            health_check_interval=0,
        )
        # A bounded pool that makes callers wait for a connection (a burst of
        # joins must not open hundreds of connections, nor fail).
        pool: Any = aioredis.BlockingConnectionPool.from_url(self.url, max_connections=32, timeout=3.0, socket_timeout=3.0, **options)
        self.r = aioredis.Redis(connection_pool=pool)
        self.rb = aioredis.from_url(self.url, socket_timeout=self.block_ms / 1000 + 3.0, **options)
        for name in _SCRIPTS:
            self.scripts[name] = self.r.register_script(getattr(scripts, name))

    async def close(self) -> None:
        """Close both clients (briefly: Redis may be away)."""
        for client in (self.r, self.rb):
            try:
                await asyncio.wait_for(client.aclose(close_connection_pool=True), 0.5)
            except REDIS_ERRORS:
                pass

    def failed(self, exc: BaseException) -> None:
        """A Redis call failed: pause matching (once) until a heartbeat succeeds."""
        if not self.paused:
            logger.warning("node %s: Redis unreachable (%s); matching paused", self.node, exc or type(exc).__name__)
            self.paused = True
            self.on_pause()

    def recovered(self) -> None:
        """A heartbeat reached Redis again after :meth:`failed`."""
        logger.warning("node %s: Redis reachable again; matching resumes", self.node)
        self.paused = False
