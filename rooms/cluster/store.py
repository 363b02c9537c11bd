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

import attrs

from . import scripts

try:  # the ``redis`` extra
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import NoScriptError, RedisError
except ImportError:  # pragma: no cover - checked when a RedisBackend is created
    aioredis = None  # type: ignore[assignment]
    RedisError = OSError  # type: ignore[assignment,misc]
    NoScriptError = OSError  # type: ignore[assignment,misc]

__all__ = ["Store", "Backoff", "REDIS_ERRORS", "HAVE_REDIS", "NoScriptError", "stream_id"]

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


@attrs.frozen(slots=True, eq=False)  # (compared by identity: each has its own future)
class _Call:
    """A script call waiting for the next pipeline."""

    name: str
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


def _fail(calls: list[_Call], exc: BaseException) -> None:
    for c in calls:
        if not c.future.done():
            c.future.set_exception(exc)


class Store:
    """The Redis clients of node *node* (this run: *instance*) and its key names.

    ``r`` runs commands through a bounded pool; ``rb`` is kept for the inbox's
    blocking reads (``block_ms``).  ``paused`` is True while Redis cannot be
    reached; ``on_pause`` is called when it becomes so.
    """

    __slots__ = ("url", "prefix", "node", "instance", "block_ms", "r", "rb", "scripts", "paused", "on_pause", "_calls", "_sender")

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
        self._calls: list[_Call] = []  # script calls waiting for the next pipeline
        self._sender: asyncio.Task[None] | None = None  # sends the calls, one pipeline at a time

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

    def call(self, name: str, *args: Any) -> asyncio.Future[Any]:
        """Run script *name* with *args* (its ARGV); await the result.

        Calls go to Redis in pipelines, one at a time: those made while one
        is on its way go together in the next, so a burst of joins costs a few
        round trips, not one each (and one pooled connection, not one each).
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls.append(_Call(name, args, future))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_calls())
        return future

    def pipe_call(self, pipe: Any, name: str, *args: Any) -> None:
        """Queue script *name* on *pipe* by its SHA alone (redis-py would ask
        ``SCRIPT EXISTS`` first, a round trip per pipeline); a pipeline that
        meets ``NOSCRIPT`` (Redis restarted) calls :meth:`load_scripts` and is retried."""
        pipe.evalsha(self.scripts[name].sha, 0, *args)

    async def load_scripts(self) -> None:
        """Load every script into Redis (after ``NOSCRIPT``: Redis lost them)."""
        for script in self.scripts.values():
            await self.r.script_load(script.script)

    async def _send_calls(self) -> None:
        try:
            while self._calls:
                calls, self._calls = self._calls, []
                await self._send(calls)
        finally:
            self._sender = None  # (cancelled by close(), which fails the calls still waiting)

    async def _send(self, calls: list[_Call]) -> None:
        try:
            for attempt in range(2):
                pipe = self.r.pipeline(transaction=False)
                for c in calls:
                    self.pipe_call(pipe, c.name, *c.args)
                try:
                    results = await pipe.execute(raise_on_error=False)
                except REDIS_ERRORS as exc:
                    _fail(calls, exc)
                    return
                missing = [c for c, result in zip(calls, results, strict=True) if isinstance(result, NoScriptError)] if not attempt else []
                for c, result in zip(calls, results, strict=True):
                    if c.future.done() or c in missing:
                        continue
                    if isinstance(result, Exception):
                        c.future.set_exception(result)
                    else:
                        c.future.set_result(result)
                if not missing:
                    return
                calls = missing  # sent again once the scripts are loaded
                try:
                    await self.load_scripts()
                except REDIS_ERRORS as exc:
                    _fail(calls, exc)
                    return
        finally:  # cancelled (the store closing): nobody waits forever
            _fail(calls, ConnectionError("the Redis client closed"))

    async def close(self) -> None:
        """Close both clients (briefly: Redis may be away)."""
        if self._sender is not None:
            self._sender.cancel()
        _fail(self._calls, ConnectionError("the Redis client closed"))  # (calls not sent yet)
        self._calls = []
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
