"""The bus: messages between the processes of a cluster, through Redis streams.

Each process reads its inbox ``in:<node>`` and writes to the others'.  Out:
one writer sends everything queued (:meth:`Bus.send` for messages to a node,
:meth:`Bus.command` for other Redis commands) in pipelined batches, in order.
Every message carries the sender's instance id and a sequence number per
destination, so a batch retried after a Redis error is never delivered twice.
In: one reader hands each message to the handler registered for its
:class:`Kind`, and each notice the Lua scripts write (a matched group, a queue
that changed) to the handler of its :class:`Notice`.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import msgpack

from .store import REDIS_ERRORS, Backoff, NoScriptError, Store, stream_id

__all__ = ["Bus", "Kind", "Notice"]

logger = logging.getLogger("rooms.redis")

_OUT_HIGH = 10_000  # queued outbound messages above which edges stop reading clients
_OUT_MAX = 200_000  # ... and above which the oldest are dropped (Redis away for long)
_BATCH = 2000  # outbound items per pipeline
_READ = 1000  # inbox entries per read


class Kind(str, enum.Enum):
    """What a message between processes is (its value is what travels)."""

    INPUT = "i"  # edge -> host: a player's message (conn id, text or bytes)
    EXIT = "x"  # edge -> host: the player's connection ended (conn id, code, reason)
    OUTPUT = "o"  # host -> edge: a message for the player (conn id, text or bytes)
    CLOSE = "c"  # host -> edge: close the player's connection (conn id, code, reason)
    REQUEST = "rq"  # edge -> host: seat or admit a connection (rooms.cluster.requests)
    REPLY = "rp"  # host -> edge: the answer to a REQUEST
    ADMIN = "ad"  # the admin page's process -> any: a snapshot or an action (rooms.cluster.admin)
    ADMIN_REPLY = "ar"  # the answer to an ADMIN
    MOVING = "mg"  # old host -> edge: the room is being handed over; hold on (conn id, old host)
    MOVED = "mv"  # new host -> edge: the room is hosted here now (conn id, new host)


class Notice(str, enum.Enum):
    """What a notice written by the Lua scripts (JSON, field ``k``) is."""

    GROUP = "g"  # a group was matched: room, host, lobby, q, seats
    QUEUE = "q"  # queue q changed: its waiting players' places moved


@attrs.frozen(slots=True)
class _Message:
    node: str
    packed: bytes


@attrs.frozen(slots=True)
class _Command:
    run: Callable[[Any], Awaitable[None]]


class Bus:
    """This process's inbox and outbox.  ``should_stop()`` ends the loops."""

    __slots__ = ("_store", "_should_stop", "_out", "_out_event", "_drained", "_seq", "_seen", "_handlers", "_notices", "last_id", "lag")

    def __init__(self, store: Store, should_stop: Callable[[], bool]) -> None:
        self._store = store
        self._should_stop = should_stop
        self._out: collections.deque[_Message | _Command] = collections.deque()
        self._out_event = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._seq: dict[str, int] = collections.defaultdict(int)
        self._seen: dict[str, int] = {}
        self._handlers: dict[str, Callable[..., None]] = {}
        self._notices: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.last_id = "0-0"  # the last inbox entry read
        # Seconds from the last batch's newest entry being written (its id's time,
        # Redis's clock) to our reading it: how far behind the reader is.
        self.lag = 0.0

    def __len__(self) -> int:
        """How many messages and commands wait to be written."""
        return len(self._out)

    def handle(self, kind: Kind, handler: Callable[..., None]) -> None:
        """Call ``handler(*args)`` for each message ``send(node, kind, *args)`` to this node."""
        self._handlers[kind.value] = handler

    def handle_notice(self, notice: Notice, handler: Callable[[dict[str, Any]], None]) -> None:
        """Call ``handler(fields)`` for each notice of this kind from the Lua scripts."""
        self._notices[notice.value] = handler

    # ------------------------------------------------------------------ out: one writer, batched, in order

    def send(self, node: str, kind: Kind, *args: Any) -> None:
        """Queue a message for *node* (sent in order, never twice)."""
        self._seq[node] += 1
        self._push(_Message(node, msgpack.packb([self._store.instance, self._seq[node], kind.value, *args], use_bin_type=True)))

    def command(self, run: Callable[[Any], Awaitable[None]]) -> None:
        """Queue a Redis command: ``await run(pipeline)`` in the writer's next batch."""
        self._push(_Command(run))

    def drop_for(self, node: str) -> None:
        """Forget the messages queued for *node* (it is gone)."""
        self._out = collections.deque(item for item in self._out if not (isinstance(item, _Message) and item.node == node))

    @property
    def drained(self) -> bool:
        """False while so much is queued that edges should stop reading their clients."""
        return self._drained.is_set()

    async def wait_drained(self) -> None:
        """Wait until the outbox is back under its low mark."""
        await self._drained.wait()

    def wake(self) -> None:
        """Have the writer look again now (shutting down)."""
        self._out_event.set()

    def _push(self, item: _Message | _Command) -> None:
        out = self._out
        if len(out) >= _OUT_MAX:
            out.popleft()
            logger.warning("node %s: outbound queue full; dropping the oldest message", self._store.node)
        out.append(item)
        if len(out) >= _OUT_HIGH:
            self._drained.clear()
        self._out_event.set()

    async def writer(self) -> None:
        """Write what is queued until ``should_stop()`` (then up to 2 s more to empty it)."""
        backoff = Backoff()
        stop_at: float | None = None
        while True:
            if self._should_stop():
                stop_at = stop_at or time.monotonic() + 2.0
                if not self._out or time.monotonic() > stop_at:
                    return
            if not self._out:
                self._out_event.clear()
                try:
                    await asyncio.wait_for(self._out_event.wait(), 1.0)
                except TimeoutError:
                    pass
                continue
            batch = [self._out.popleft() for _ in range(min(len(self._out), _BATCH))]
            try:
                await self._write(batch)
            except REDIS_ERRORS as exc:
                self._out.extendleft(reversed(batch))  # retried as they were; receivers drop repeats
                await backoff.failed(self._store, exc)
                continue
            except Exception:
                logger.exception("node %s: error writing to Redis", self._store.node)
                continue
            backoff.reset()
            if len(self._out) < _OUT_HIGH // 2:
                self._drained.set()

    async def _write(self, batch: list[_Message | _Command]) -> None:
        store = self._store
        sends: dict[str, list[bytes]] = {}
        for item in batch:
            if isinstance(item, _Message):
                sends.setdefault(item.node, []).append(item.packed)
        for attempt in range(2):
            pipe = store.r.pipeline(transaction=False)
            for item in batch:
                if isinstance(item, _Command):
                    await item.run(pipe)
            for node, messages in sends.items():
                store.pipe_call(pipe, "SEND", store.prefix, node, *messages)
            try:
                await pipe.execute()
                return
            except NoScriptError:  # Redis lost the scripts (restarted): load them, write again
                if attempt:
                    raise
                await store.load_scripts()  # (receivers drop the repeats of what got through)

    # ------------------------------------------------------------------ in: this node's inbox

    async def reader(self) -> None:
        """Read the inbox and dispatch each entry until ``should_stop()``."""
        store = self._store
        key = store.key("in:" + store.node)
        backoff = Backoff()
        while not self._should_stop():
            try:
                response = await store.rb.xread({key: self.last_id}, count=_READ, block=store.block_ms)
            except REDIS_ERRORS as exc:
                await backoff.failed(store, exc)
                continue
            backoff.reset()
            if not response:
                continue
            for _, entries in response:
                for entry_id, fields in entries:
                    self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    try:
                        self._dispatch(fields)
                    except Exception:
                        logger.exception("node %s: error handling a cluster message", store.node)
            last = self.last_id
            self.lag = max(0.0, time.time() - stream_id(last)[0] / 1000)

            async def trim(pipe: Any, last: str = last) -> None:
                pipe.xtrim(key, minid=last)

            self.command(trim)

    def _dispatch(self, fields: dict[bytes, bytes]) -> None:
        if b"j" in fields:
            notice = json.loads(fields[b"j"])
            handler = self._notices.get(notice["k"])
            if handler is not None:
                handler(notice)
            return
        sender, seq, kind, *args = msgpack.unpackb(fields[b"m"], raw=False)
        if seq <= self._seen.get(sender, 0):
            return  # a retried batch: seen already
        self._seen[sender] = seq
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(*args)

    async def read_up_to_now(self, timeout: float) -> None:
        """Wait (at most *timeout* seconds) until the reader has read everything
        in the inbox now: what a peer sent before it went (its goodbye)."""
        store = self._store
        top = await store.r.xrevrange(store.key("in:" + store.node), count=1)
        if top:
            target = stream_id(top[0][0])
            deadline = time.monotonic() + timeout
            while stream_id(self.last_id) < target and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

    def rewind(self) -> None:
        """Read the inbox from its start again (Redis lost it: it is a new stream)."""
        self.last_id = "0-0"
