"""The Redis backend: one cluster of server processes, one Redis server.

Several processes (on one machine or many, behind any TCP load balancer) that
point at the same Redis form a cluster.  Players connected to different
processes are matched together and play in one room:

- **Matching.** Waiting tickets live in Redis, one sorted set per lobby key;
  Lua scripts (:mod:`rooms.redis_scripts`) queue, remove and match them
  atomically, so nobody is ever seated twice.  A complete group is written to
  the inbox of every process that owns one of its tickets.
- **Hosting and bridging.** A room runs on one process, its *host*: the process
  of the ticket that completed the group.  A player connected elsewhere stays
  connected to their own process (the *edge*), which forwards what they send,
  in order, to the host's inbox (a Redis stream), and writes to the socket what
  the host sends to the edge's inbox.  On the host such a player is a
  :class:`RemoteSocket`, which ``Room``, ``ws.mux`` and ``ws.broadcast`` use like
  a :class:`ws.WebSocket`: same sends, reads, close codes and close callbacks.
- **Presence.** Each process refreshes ``node:<id>`` (TTL ``node_ttl``) every
  ``heartbeat`` seconds and sweeps the nodes whose key expired: their waiting
  tickets and room records go; rooms they hosted end for the players bridged
  from elsewhere (``ended`` and close 1012); players they bridged leave rooms
  hosted elsewhere as a lost connection (1006), so ``reconnect`` holds the seat
  and the player can come back through any process: the seat token is signed
  with a secret the cluster shares, and the room's host is found in Redis.
- **Outages.** Every loop catches Redis errors and retries with a backoff.
  While Redis is away, matching pauses (waiting players get a ``lobby`` status
  ``paused``), rooms whose players are all on one process go on, and traffic
  for other processes is buffered; when Redis is back, waiting tickets are
  queued again (keeping their place) and statuses resume.

Every message between processes carries the sender's instance id and a
sequence number per destination, so a batch retried after an error is never
delivered twice.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import os
import secrets
import socket as _socket
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import msgpack

import ws
from ws.connection import MessageReader
from ws.messages import DataMessage, TextMessage
from ws.protocol import State

from . import codec, redis_scripts
from .backend import Backend, Elsewhere, Entrant, Entry, Hosted, LobbyView, Refusal, Resume, Seat, Watch
from .exceptions import CLOSE_CODES
from .matching import LobbyKey, Ticket
from .room import Room

try:  # the ``redis`` extra
    import redis.asyncio as _aioredis
    from redis.asyncio.retry import Retry as _Retry
    from redis.backoff import NoBackoff as _NoBackoff
    from redis.exceptions import RedisError as _RedisError
except ImportError:  # pragma: no cover - checked when a RedisBackend is created
    _aioredis = None
    _RedisError = OSError

__all__ = ["RedisBackend", "RemoteSocket"]

logger = logging.getLogger("rooms.redis")

# What a Redis call can raise when the server is away or slow.
_REDIS_ERRORS = (_RedisError, OSError, asyncio.TimeoutError)

_HOST_LOST = "room host lost"
_MAX_BUFFER = 2**20  # an edge closes a slow client (1013) beyond this, as a room does
_OUT_HIGH = 10_000  # queued outbound messages above which edges stop reading clients
_OUT_MAX = 200_000  # ... and above which the oldest are dropped (Redis away for long)


def _status_paused(n: int, code: str | None) -> dict[str, Any]:
    status = {
        "type": "lobby",
        "status": "paused",
        "need": n,
        "detail": "matchmaking is paused: the server cannot reach its cluster; you keep your place",
    }
    if code is not None:
        status["code"] = code
    return status


# ---------------------------------------------------------------------- the host's view of a remote player


class _RemoteConn:
    """What ``ws.mux`` and ``ws.broadcast`` read from ``sock._conn``."""

    __slots__ = ("state", "close_code", "close_reason", "close_received")

    def __init__(self) -> None:
        self.state = State.OPEN
        self.close_code: int | None = None
        self.close_reason = ""
        self.close_received = None


class _RemoteTransport:
    """``ws.broadcast`` asks for the write buffer size; the edge enforces its own."""

    __slots__ = ()

    def get_write_buffer_size(self) -> int:
        return 0


_TRANSPORT = _RemoteTransport()


class _Sent:
    """Sends to a remote player are queued at call time; awaiting is a no-op."""

    __slots__ = ()

    def __await__(self):
        return None
        yield  # pragma: no cover


_SENT = _Sent()


class _Closing:
    __slots__ = ("_sock",)

    def __init__(self, sock: RemoteSocket) -> None:
        self._sock = sock

    def __await__(self):
        sock = self._sock
        if not sock._lost:
            fut = sock._loop.create_future()
            sock._lost_waiters.append(fut)
            yield from fut
        raise sock._closed_error()


class RemoteSocket(MessageReader):
    """A player (or spectator) connected to another process of the cluster.

    The host's game sees it as a :class:`ws.WebSocket`: ``text``, ``data``,
    ``send`` and ``close`` are forwarded to the process holding the TCP
    connection, in order; ``await sock`` (or a mux) gives the messages the
    player sent, in order; the connection's end arrives with the code and reason
    the edge saw (1006 when the edge process died).
    """

    __slots__ = (
        "_node",
        "edge",
        "conn_id",
        "room_id",
        "_loop",
        "_conn",
        "transport",
        "_queue",
        "_waiter",
        "_mux",
        "_lost",
        "_on_close",
        "_lost_waiters",
        "request",
        "remote_address",
        "__weakref__",
    )

    _is_server = False  # ws.broadcast: write through send(), not the transport

    def __init__(self, node: RedisBackend, edge: str, conn_id: str, room_id: str) -> None:
        self._node = node
        self.edge = edge
        self.conn_id = conn_id
        self.room_id = room_id
        self._loop = asyncio.get_running_loop()
        self._conn = _RemoteConn()
        self.transport = _TRANSPORT
        self._queue: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future | None = None
        self._mux: ws.Mux | None = None
        self._lost = False
        self._on_close: list[Callable[[Any], None]] = []
        self._lost_waiters: list[asyncio.Future] = []
        self.request = None
        self.remote_address = ("node", edge)

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.conn_id} on {self.edge} {self._conn.state.value}>"

    # state
    @property
    def closed(self) -> bool:
        return self._lost or self._conn.state is not State.OPEN

    @property
    def close_code(self) -> int | None:
        return self._conn.close_code

    @property
    def close_reason(self) -> str:
        return self._conn.close_reason

    def _closed_error(self) -> ws.Closed:
        code = self._conn.close_code if self._conn.close_code is not None else 1006
        return ws.Closed(None, code=code, reason=self._conn.close_reason, socket=self)


    # from the edge
    def _feed(self, message: Any) -> None:
        if self._lost:
            return
        self._queue.append(message)
        if self._mux is not None:
            self._mux._ready(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _gone(self, code: int, reason: str) -> None:
        """The player's connection ended (on the edge, or with the edge)."""
        if self._lost:
            return
        self._lost = True
        conn = self._conn
        conn.state = State.CLOSED
        if conn.close_code is None:
            conn.close_code, conn.close_reason = code, reason
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._mux is not None:
            self._mux._ready(self)
        for fut in self._lost_waiters:
            if not fut.done():
                fut.set_result(None)
        self._lost_waiters.clear()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("error in close callback of %r", self)

    # reading, as ws.WebSocket
    def _take_ready(self) -> Any:
        return self._queue.popleft() if self._queue else None

    # sending, as ws.WebSocket
    def _check_writable(self) -> None:
        if self._lost or self._conn.state is not State.OPEN:
            raise self._closed_error()

    def text(self, message: str | Iterable[str]) -> _Sent:
        self._check_writable()
        self._node._send(self.edge, "o", self.conn_id, message if isinstance(message, str) else "".join(message))
        return _SENT

    def data(self, message: bytes | bytearray | memoryview | Iterable[bytes]) -> _Sent:
        self._check_writable()
        payload = bytes(message) if isinstance(message, (bytes, bytearray, memoryview)) else b"".join(map(bytes, message))
        self._node._send(self.edge, "o", self.conn_id, payload)
        return _SENT

    def send(self, message: str | bytes) -> _Sent:
        return self.text(message) if isinstance(message, str) else self.data(message)

    def ping(self, payload: bytes | str = b"") -> _Sent:
        self._check_writable()  # the edge keeps its own connection alive
        return _SENT

    pong = ping

    def close(self, code: int = 1000, reason: str = "") -> _Closing:
        if not self._lost and self._conn.state is State.OPEN:
            self._conn.state = State.CLOSING
            self._conn.close_code, self._conn.close_reason = code, reason
            self._node._send(self.edge, "c", self.conn_id, code, reason)
        return _Closing(self)

    def abort(self) -> None:
        self.close(1006, "")


# ---------------------------------------------------------------------- per-process state


class _Wait:
    """A player of this process waiting in a cluster queue."""

    __slots__ = ("lobby", "ticket", "entrant", "queue", "at", "joined", "number")

    def __init__(self, lobby: LobbyView, ticket: Ticket, number: int) -> None:
        self.lobby = lobby
        self.ticket = ticket
        self.entrant = cast(Entrant, ticket.payload)
        self.queue = queue_name(lobby.name, cast(LobbyKey, ticket.key))
        self.at = ""  # join time in Redis (kept so a re-queue keeps the place)
        self.joined = False
        self.number = number

    @property
    def tid(self) -> str:
        return self.ticket.id

    @property
    def sock(self) -> ws.WebSocket:
        return self.entrant.sock

    @property
    def code(self) -> str | None:
        return cast(LobbyKey, self.ticket.key).code


class _Bridge:
    """A player of this process seated in a room hosted by another process."""

    __slots__ = ("sock", "host", "conn_id", "room_id", "host_lost")

    def __init__(self, sock: ws.WebSocket, host: str, conn_id: str, room_id: str) -> None:
        self.sock = sock
        self.host = host
        self.conn_id = conn_id
        self.room_id = room_id
        self.host_lost = False


def queue_name(lobby: str, key: LobbyKey) -> str:
    """The Redis queue of *key* in the lobby named *lobby*: ``<lobby>|<JSON [path, mode, code]>``."""
    return f"{lobby}|{json.dumps([key.path, key.mode, key.code], separators=(',', ':'))}"


def key_of_queue(queue: str) -> LobbyKey:
    """The lobby key a :func:`queue_name` stands for."""
    path, mode, code = json.loads(queue.split("|", 1)[1])
    return LobbyKey(path, mode, code)


# ---------------------------------------------------------------------- the backend


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
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "rooms:",
        node_id: str | None = None,
        heartbeat: float = 1.0,
        node_ttl: float = 5.0,
        secret: bytes | str | None = None,
        request_timeout: float = 5.0,
    ) -> None:
        if _aioredis is None:
            raise RuntimeError("RedisBackend needs the redis package: pip install 'wsrooms[redis]'")
        if node_ttl <= heartbeat:
            raise ValueError("node_ttl must be longer than the heartbeat")
        self.url = url
        self.prefix = prefix
        self.node = node_id or f"{_socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.instance = f"{self.node}/{secrets.token_hex(4)}"  # this run of the process
        self.heartbeat = heartbeat
        self.node_ttl = node_ttl
        self.request_timeout = request_timeout
        self._secret: bytes | None = secret.encode() if isinstance(secret, str) else secret
        self._configured_secret = self._secret is not None
        self.paused = False  # True while Redis cannot be reached
        self._lobbies: dict[str, LobbyView] = {}
        self._server: ws.Server | None = None
        self._started: asyncio.Future | None = None
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._r: Any = None  # commands
        self._rb: Any = None  # blocking reads of the inbox
        self._scripts: dict[str, Any] = {}
        # this process's share of the cluster
        self._waiting: dict[str, _Wait] = {}
        self._numbers = itertools.count()
        self._rooms: dict[str, tuple[LobbyView, Room]] = {}
        self._remote: dict[str, RemoteSocket] = {}  # host side: conn id -> socket
        self._bridges: dict[str, _Bridge] = {}  # edge side: conn id -> bridge
        self._requests: dict[str, tuple[asyncio.Future, str, ws.WebSocket, str, str]] = {}
        # outbound: ("m", node, packed) messages and ("c", fn(pipe)) commands
        self._out: collections.deque[tuple] = collections.deque()
        self._out_event = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._seq: dict[str, int] = collections.defaultdict(int)
        self._seen: dict[str, int] = {}
        self._last_id = "0-0"
        self._dirty: set[str] = set()
        self._dirty_event = asyncio.Event()
        self._registered = False
        self._lost_peers: set[str] = set()

    def __repr__(self) -> str:
        return f"<RedisBackend {self.node} {self.url} prefix={self.prefix!r}>"

    def _k(self, name: str) -> str:
        return self.prefix + name

    @property
    def secret(self) -> bytes | None:
        """The seat-token secret: the configured one, or the one stored in Redis
        (known once this process has reached Redis)."""
        return self._secret

    def attach(self, lobby: LobbyView) -> None:
        if lobby.name in self._lobbies:
            raise ValueError(f"two lobbies named {lobby.name!r} on one backend: give them a name=")
        self._lobbies[lobby.name] = lobby

    def statistics(self) -> dict[str, int]:
        """What this process holds: waiting tickets, hosted rooms, bridges, queued messages."""
        return {
            "waiting": len(self._waiting),
            "rooms": len(self._rooms),
            "remote_players": len(self._remote),
            "bridged_players": len(self._bridges),
            "outbound": len(self._out),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, server: ws.Server | None = None) -> None:
        """Connect and start the background tasks (owned by *server*); idempotent."""
        if self._started is not None:
            await asyncio.shield(self._started)
            return
        self._started = asyncio.get_running_loop().create_future()
        try:
            self._server = server
            options = dict(
                socket_connect_timeout=2.0,
                retry=_Retry(_NoBackoff(), 1),  # one quick retry: a pooled connection may be stale
                health_check_interval=0,
            )
            # A bounded pool that makes callers wait for a connection (a burst of
            # joins must not open hundreds of connections, nor fail).
            pool = _aioredis.BlockingConnectionPool.from_url(self.url, max_connections=32, timeout=3.0, socket_timeout=3.0, **options)
            self._r = _aioredis.Redis(connection_pool=pool)
            self._rb = _aioredis.from_url(self.url, socket_timeout=self._block_ms / 1000 + 3.0, **options)
            for name in ("JOIN", "LEAVE", "TICK", "SWEEP", "SEND"):
                self._scripts[name] = self._r.register_script(getattr(redis_scripts, name))
            try:
                await asyncio.wait_for(self._beat(), 3.0)
            except _REDIS_ERRORS as exc:
                self._failed(exc)
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
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    @property
    def _block_ms(self) -> int:
        return max(50, int(min(self.heartbeat, 1.0) * 1000))

    def _wake_all(self) -> None:
        self._out_event.set()
        self._dirty_event.set()

    def _should_stop(self) -> bool:
        if self._stopping:
            return True
        server = self._server
        if server is not None and server.closing and not (self._waiting or self._rooms or self._bridges or self._remote or self._out):
            self._stopping = True
        return self._stopping

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(c) for c in (self._reader(), self._writer(), self._presence(), self._announcer())]
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

    async def _leave_cluster(self, tasks: list[asyncio.Task]) -> None:
        """Shutting down (the server cancels the work it owns first, games
        included): let the cancelled games queue their last messages, let the
        loops send them and stop (they are never cancelled mid-command: a
        cancelled blocking read can hang in the client), then leave the cluster,
        so others see this node go at once rather than after node_ttl."""
        await asyncio.sleep(0.05)
        self._stopping = True
        self._wake_all()
        await asyncio.wait(tasks, timeout=self._block_ms / 1000 + 1.5)
        try:
            async with asyncio.timeout(1.0):
                await self._r.delete(self._k("node:" + self.node))
                await self._scripts["SWEEP"](args=[self.prefix])
        except _REDIS_ERRORS:
            pass
        for client in (self._r, self._rb):
            try:
                await asyncio.wait_for(client.aclose(close_connection_pool=True), 0.5)
            except _REDIS_ERRORS:
                pass

    def _failed(self, exc: BaseException) -> None:
        """A Redis call failed: pause matching (once) until a heartbeat succeeds."""
        if not self.paused:
            logger.warning("node %s: Redis unreachable (%s); matching paused", self.node, exc or type(exc).__name__)
            self.paused = True
            for w in list(self._waiting.values()):
                w.joined = False  # unknown: queue it again (idempotent) when Redis is back
                self._text(w.sock, _status_paused(w.lobby.n, w.code))

    async def _resumed(self) -> None:
        logger.warning("node %s: Redis reachable again; matching resumes", self.node)
        self.paused = False
        await self._requeue()

    # ------------------------------------------------------------------ presence: heartbeat, sweep, peers, bands

    async def _presence(self) -> None:
        delay = min(self.heartbeat, 0.5)
        next_beat = time.monotonic() + self.heartbeat
        backoff = delay
        while not self._should_stop():
            await asyncio.sleep(backoff if self.paused else delay)
            if self._should_stop():
                break
            try:
                if self.paused or time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat
                    await self._beat()
                    if self.paused:
                        await self._resumed()
                    await self._check_peers()
                await self._tick_bands()
                backoff = delay
            except _REDIS_ERRORS as exc:
                self._failed(exc)
                backoff = min(backoff * 2, 2.0)
            except Exception:
                logger.exception("node %s: error in the presence loop", self.node)

    async def _beat(self) -> None:
        """Refresh this node's key; notice an eviction; sweep dead nodes."""
        pipe = self._r.pipeline(transaction=False)
        pipe.set(self._k("node:" + self.node), self.instance, px=int(self.node_ttl * 1000), get=True)
        pipe.sadd(self._k("nodes"), self.node)
        if not self._configured_secret:
            pipe.set(self._k("secret"), secrets.token_urlsafe(32), nx=True, get=True)
        else:
            pipe.set(self._k("secret"), self._secret, nx=True)
        old, _, secret = await pipe.execute()
        if not self._configured_secret:
            if secret is None:
                secret = await self._r.get(self._k("secret"))
            self._secret = secret
        if old is not None and old.decode() != self.instance:
            logger.error("node %s: another process uses the same node id (%s)", self.node, old.decode())
        if old is None and self._registered:
            await self._evicted()
        self._registered = True
        await self._scripts["SWEEP"](args=[self.prefix])

    async def _evicted(self) -> None:
        """Our key had expired (Redis restarted, or we were cut off longer than
        node_ttl): the others treat us as dead, so every bridge is broken; our
        waiting players are queued again and our rooms registered again."""
        logger.warning("node %s: evicted from the cluster (Redis restarted or unreachable too long)", self.node)
        self._last_id = "0-0"
        for peer in {b.host for b in self._bridges.values()} | {s.edge for s in self._remote.values()}:
            self._peer_lost(peer)
        pipe = self._r.pipeline(transaction=False)
        for room_id, (lobby, _) in self._rooms.items():
            pipe.hset(self._k("room:" + room_id), mapping={"host": self.node, "lobby": lobby.name})
            pipe.sadd(self._k("nr:" + self.node), room_id)
        await pipe.execute()
        for w in self._waiting.values():
            w.joined = False
        await self._requeue()

    async def _check_peers(self) -> None:
        peers = {b.host for b in self._bridges.values()} | {s.edge for s in self._remote.values()}
        peers |= {entry[1] for entry in self._requests.values()}
        peers.discard(self.node)
        if not peers:
            return
        order = sorted(peers)
        pipe = self._r.pipeline(transaction=False)
        for peer in order:
            pipe.exists(self._k("node:" + peer))
        dead = [peer for peer, alive in zip(order, await pipe.execute()) if not alive]
        if dead:
            # What a peer sent before it went (a graceful goodbye: its rooms'
            # last messages and closes) is in our inbox: read it first.
            top = await self._r.xrevrange(self._k("in:" + self.node), count=1)
            if top:
                target = _stream_id(top[0][0])
                deadline = time.monotonic() + 2.0
                while _stream_id(self._last_id) < target and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            for peer in dead:
                self._peer_lost(peer)

    def _peer_lost(self, peer: str) -> None:
        """*peer* is dead (or we are cut off from it): end what we share with it."""
        logger.warning("node %s: node %s is gone", self.node, peer)
        for conn_id, sock in list(self._remote.items()):
            if sock.edge == peer:
                del self._remote[conn_id]
                sock._gone(1006, "node lost")
        for bridge in list(self._bridges.values()):
            if bridge.host == peer and not bridge.host_lost:
                bridge.host_lost = True
                sock = bridge.sock
                self._text(sock, {"type": "ended", "room": bridge.room_id, "result": None, "error": _HOST_LOST})
                sock.close(CLOSE_CODES["host_lost"], _HOST_LOST)
        for req_id, (fut, host, *_rest) in list(self._requests.items()):
            if host == peer and not fut.done():
                fut.set_result(Refusal("unknown_room", "this room is over or unknown"))
        self._out = collections.deque(item for item in self._out if not (item[0] == "m" and item[1] == peer))

    async def _tick_bands(self) -> None:
        queues = {w.queue: w.lobby for w in self._waiting.values() if w.joined and w.lobby.bands is not None}
        for queue, lobby in queues.items():
            await self._scripts["TICK"](args=[self.prefix, queue, lobby.n, lobby.name, *self._band_args(lobby)])

    @staticmethod
    def _band_args(lobby: LobbyView) -> list[Any]:
        bands = lobby.bands
        if bands is None:
            return ["", "", ""]
        return [bands.band, bands.widen_per_second, "" if bands.max_band is None else bands.max_band]

    # ------------------------------------------------------------------ outbound: one writer, batched, in order

    def _send(self, node: str, kind: str, *args: Any) -> None:
        """Queue a message for *node* (sent in order, never twice)."""
        self._seq[node] += 1
        self._push(("m", node, msgpack.packb([self.instance, self._seq[node], kind, *args], use_bin_type=True)))

    def _command(self, fn: Callable[[Any], Any]) -> None:
        """Queue a Redis command (``fn(pipeline)``) for the writer."""
        self._push(("c", fn))

    def _push(self, item: tuple) -> None:
        out = self._out
        if len(out) >= _OUT_MAX:
            out.popleft()
            logger.warning("node %s: outbound queue full; dropping the oldest message", self.node)
        out.append(item)
        if len(out) >= _OUT_HIGH:
            self._drained.clear()
        self._out_event.set()

    async def _writer(self) -> None:
        backoff = 0.05
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
                except asyncio.TimeoutError:
                    pass
                continue
            batch = [self._out.popleft() for _ in range(min(len(self._out), 2000))]
            try:
                await self._write(batch)
            except _REDIS_ERRORS as exc:
                self._out.extendleft(reversed(batch))  # retried as they were; receivers drop repeats
                self._failed(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            except Exception:
                logger.exception("node %s: error writing to Redis", self.node)
                continue
            backoff = 0.05
            if len(self._out) < _OUT_HIGH // 2:
                self._drained.set()

    async def _write(self, batch: list[tuple]) -> None:
        pipe = self._r.pipeline(transaction=False)
        sends: dict[str, list[bytes]] = {}
        for item in batch:
            if item[0] == "m":
                sends.setdefault(item[1], []).append(item[2])
            else:
                await item[1](pipe)
        for node, messages in sends.items():
            await self._scripts["SEND"](args=[self.prefix, node, *messages], client=pipe)
        await pipe.execute()

    # ------------------------------------------------------------------ inbound: this node's inbox

    async def _reader(self) -> None:
        key = self._k("in:" + self.node)
        backoff = 0.05
        while not self._should_stop():
            try:
                response = await self._rb.xread({key: self._last_id}, count=1000, block=self._block_ms)
            except _REDIS_ERRORS as exc:
                self._failed(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            if not response:
                continue
            for _, entries in response:
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    try:
                        self._dispatch(fields)
                    except Exception:
                        logger.exception("node %s: error handling a cluster message", self.node)
            last = self._last_id

            async def trim(pipe: Any, last: str = last) -> None:
                pipe.xtrim(key, minid=last)

            self._command(trim)

    def _dispatch(self, fields: dict[bytes, bytes]) -> None:
        if b"j" in fields:
            msg = json.loads(fields[b"j"])
            if msg["k"] == "g":
                self._on_group(msg)
            elif msg["k"] == "q":
                self._mark_dirty(msg["q"])
            return
        sender, seq, kind, *args = msgpack.unpackb(fields[b"m"], raw=False)
        if seq <= self._seen.get(sender, 0):
            return  # a retried batch: seen already
        self._seen[sender] = seq
        if kind == "i":  # edge -> host: a player's message
            sock = self._remote.get(args[0])
            if sock is not None:
                payload = args[1]
                sock._feed(TextMessage(payload) if isinstance(payload, str) else DataMessage(payload))
        elif kind == "x":  # edge -> host: the player's connection ended
            sock = self._remote.pop(args[0], None)
            if sock is not None:
                sock._gone(args[1], args[2])
        elif kind == "o":  # host -> edge: a message for the player
            bridge = self._bridges.get(args[0])
            if bridge is not None:
                self._write_to_client(bridge.sock, args[1])
        elif kind == "c":  # host -> edge: close the player's connection
            bridge = self._bridges.get(args[0])
            if bridge is not None:
                bridge.sock.close(args[1], args[2])
        elif kind == "rq":
            self._on_request(*args)
        elif kind == "rp":
            self._on_reply(*args)

    def _write_to_client(self, sock: ws.WebSocket, payload: str | bytes) -> None:
        if sock.closed:
            return
        transport = sock.transport
        if transport is not None and transport.get_write_buffer_size() > _MAX_BUFFER:
            logger.info("dropping slow consumer %r", sock)
            sock.close(1013, "slow consumer")
            return
        if isinstance(payload, str):
            sock.text(payload)
        else:
            sock.data(payload)

    # ------------------------------------------------------------------ waiting and matching

    async def queue(self, lobby: LobbyView, ticket: Ticket) -> None:
        w = _Wait(lobby, ticket, next(self._numbers))
        self._waiting[w.tid] = w
        if self.paused:
            self._text(w.sock, _status_paused(lobby.n, w.code))
        else:
            await self._join(w)

    def leave(self, ticket: Ticket) -> bool:
        w = self._waiting.pop(ticket.id, None)
        if w is None:
            return False
        self._leave_soon(w)
        return True

    async def withdraw(self, ticket: Ticket) -> bool:
        w = self._waiting.get(ticket.id)
        return True if w is None else await self._leave_now(w)

    async def has_key(self, lobby: LobbyView, key: LobbyKey) -> bool | None:
        return await self._has_queue(queue_name(lobby.name, key))

    def waiting_count(self, lobby: LobbyView) -> int:
        return sum(1 for w in self._waiting.values() if w.lobby is lobby)

    # rooms hosted here
    def add_room(self, lobby: LobbyView, room: Room) -> None:
        self._rooms[room.id] = (lobby, room)

    def remove_room(self, room: Room) -> None:
        self._room_over(room)

    def rooms(self, lobby: LobbyView) -> list[Room]:
        return [room for owner, room in self._rooms.values() if owner is lobby]

    async def _join(self, w: _Wait) -> None:
        lobby = w.lobby
        data = json.dumps({"identity": _jsonable(w.entrant.identity)}, separators=(",", ":"))
        try:
            status, at = await self._scripts["JOIN"](
                args=[
                    self.prefix,
                    w.queue,
                    w.tid,
                    self.node,
                    w.at,
                    "" if w.ticket.rating is None else w.ticket.rating,
                    data,
                    lobby.n,
                    lobby.name,
                    *self._band_args(lobby),
                ]
            )
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            if w.tid in self._waiting:
                self._text(w.sock, _status_paused(lobby.n, w.code))
            return
        if status == -1:  # our node key is missing: the next heartbeat sorts it out
            self._failed(ConnectionError("node not registered"))
            return
        w.joined = True
        w.at = at.decode() if isinstance(at, bytes) else at
        if w.tid not in self._waiting:
            self._leave_soon(w)  # the player left while the join was on its way
        else:
            self._mark_dirty(w.queue)

    async def _requeue(self) -> None:
        """Queue every waiting player again, in their order (a no-op for those Redis knows)."""
        for w in sorted(self._waiting.values(), key=lambda w: w.number):
            if not w.joined and w.tid in self._waiting and not w.sock.closed:
                await self._join(w)
                if self.paused:
                    return
            self._mark_dirty(w.queue)

    def _leave_soon(self, w: _Wait) -> None:
        if not w.joined:
            return

        async def leave(pipe: Any) -> None:
            await self._scripts["LEAVE"](args=[self.prefix, w.tid], client=pipe)

        self._command(leave)

    async def _leave_now(self, w: _Wait) -> bool:
        """Remove *w* from its queue; False if it was matched first."""
        if not w.joined:
            self._waiting.pop(w.tid, None)
            return True
        try:
            removed = await self._scripts["LEAVE"](args=[self.prefix, w.tid])
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            self._waiting.pop(w.tid, None)  # gone for us; a late group finds it missing
            return True
        if removed:
            self._waiting.pop(w.tid, None)
        return bool(removed)

    async def _has_queue(self, queue: str) -> bool | None:
        try:
            return bool(await self._r.exists(self._k("q:" + queue)))
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            return None

    def _on_group(self, msg: dict[str, Any]) -> None:
        """A group was matched in Redis: bridge our players, host the room if it is ours."""
        room_id, host = msg["room"], msg["host"]
        if host == self.node:
            self._host(msg)
            return
        for tid, node, _data in msg["seats"]:
            if node != self.node:
                continue
            w = self._waiting.pop(tid, None)
            if w is None or w.sock.closed or not w.entrant.waiting:
                code = w.sock.close_code if w is not None and w.sock.close_code is not None else 1000
                self._send(host, "x", tid, code, "left while being seated")
                continue
            bridge = self._bridges[tid] = _Bridge(w.sock, host, tid, room_id)
            w.entrant.bridged(bridge)

    def _host(self, msg: dict[str, Any]) -> None:
        room_id = msg["room"]
        lobby = self._lobbies.get(msg["lobby"])
        seats: list[Seat] = []
        for tid, node, data in msg["seats"]:
            identity = json.loads(data).get("identity")
            if node == self.node:
                w = self._waiting.pop(tid, None)
                if w is not None and w.entrant.waiting:
                    seats.append(Seat(identity, w.sock, w.entrant))
                    continue
                sock = RemoteSocket(self, node, tid, room_id)
                sock._gone(1000, "left while being seated")
            else:
                sock = RemoteSocket(self, node, tid, room_id)
                self._remote[tid] = sock
            seats.append(Seat(identity, sock))
        if lobby is None or self._server is None:
            logger.error("node %s: no lobby named %r for room %s", self.node, msg["lobby"], room_id)
            for seat in seats:
                seat.sock.close(1011, "internal error")
            return
        lobby.open_room(room_id, key_of_queue(msg["q"]), seats, self._server)

    def _room_over(self, room: Room) -> None:
        """A room hosted here ended: forget it here and in Redis."""
        self._rooms.pop(room.id, None)
        for conn_id, sock in list(self._remote.items()):
            if sock.room_id == room.id:
                del self._remote[conn_id]
                sock._gone(sock.close_code or 1000, sock.close_reason)
        room_key, hosted = self._k("room:" + room.id), self._k("nr:" + self.node)

        async def forget(pipe: Any) -> None:
            pipe.delete(room_key)
            pipe.srem(hosted, room.id)

        self._command(forget)

    # ------------------------------------------------------------------ edges: bridging a player to a remote host

    async def relay(self, handle: Any) -> None:
        """Forward what the player sends, in order, until the connection ends."""
        bridge = cast(_Bridge, handle)
        sock, host, conn_id = bridge.sock, bridge.host, bridge.conn_id
        try:
            while True:
                message = await sock
                if message.is_text or message.is_data:
                    self._send(host, "i", conn_id, str(message) if message.is_text else bytes(message))
                    if not self._drained.is_set():
                        await self._drained.wait()  # Redis is slow or away: stop reading this client
        except ws.Closed:
            pass
        finally:
            self._bridges.pop(conn_id, None)
            if not bridge.host_lost:
                code = sock.close_code if sock.close_code is not None else 1006
                self._send(host, "x", conn_id, code, sock.close_reason)

    async def find_room(self, lobby: LobbyView, room_id: str) -> Hosted | Elsewhere | Refusal | None:
        entry = self._rooms.get(room_id)
        if entry is not None and entry[0] is lobby:
            return Hosted(entry[1])
        try:
            host = await self._r.hget(self._k("room:" + room_id), "host")
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            return Refusal("unavailable", "the cluster is unreachable; try again shortly")
        if host is None or host.decode() == self.node:
            return None
        return Elsewhere(room_id, host.decode())

    async def request_seat(self, lobby: LobbyView, sock: ws.WebSocket, where: Elsewhere, entry: Entry) -> _Bridge | Refusal:
        """Ask the host of *where* to seat (``resume``) or admit (``watch``) *sock*."""
        host, room_id = where.host, where.room_id
        action, arg = ("resume", entry.token) if isinstance(entry, Resume) else ("watch", "")
        conn_id, req_id = secrets.token_hex(8), secrets.token_hex(8)
        fut = asyncio.get_running_loop().create_future()
        self._requests[req_id] = (fut, host, sock, conn_id, room_id)
        self._send(host, "rq", req_id, action, lobby.name, room_id, arg, self.node, conn_id)
        try:
            reply = await asyncio.wait_for(asyncio.shield(fut), self.request_timeout)
        except asyncio.TimeoutError:
            reply = Refusal("unavailable", "the room's server did not answer; try again shortly")
        finally:
            self._requests.pop(req_id, None)
        if reply is not None:
            bridge = self._bridges.pop(conn_id, None)
            if bridge is not None:  # accepted too late: let the host know we are gone
                self._send(host, "x", conn_id, 1001, "")
            return reply
        return self._bridges[conn_id]

    def _on_reply(self, req_id: str, error: str | None, detail: str) -> None:
        entry = self._requests.get(req_id)
        if entry is None:
            return
        fut, host, sock, conn_id, room_id = entry
        if fut.done():
            return
        if error is None:
            # Registered now, before the host's next message to it is read.
            self._bridges[conn_id] = _Bridge(sock, host, conn_id, room_id)
            fut.set_result(None)
        else:
            fut.set_result(Refusal(error, detail))

    def _on_request(self, req_id: str, action: str, lobby_name: str, room_id: str, arg: str, edge: str, conn_id: str) -> None:
        """On the host: a player reconnecting, or a spectator, through another process."""
        lobby = self._lobbies.get(lobby_name)
        entry = self._rooms.get(room_id)
        if lobby is None:
            self._send(edge, "rp", req_id, "unknown_room", "this room is over or unknown")
            return
        admission = lobby.admit(room_id, entry[1] if entry is not None else None, Resume(arg) if action == "resume" else Watch())
        if isinstance(admission, Refusal):
            self._send(edge, "rp", req_id, admission.error, admission.detail)
            return
        sock = RemoteSocket(self, edge, conn_id, room_id)
        self._remote[conn_id] = sock
        self._send(edge, "rp", req_id, None, "")
        self._spawn(admission.enter(sock))

    # ------------------------------------------------------------------ lobby statuses

    def _mark_dirty(self, queue: str) -> None:
        self._dirty.add(queue)
        self._dirty_event.set()

    async def _announcer(self) -> None:
        """Send ``lobby`` statuses to our waiting players of each queue that changed."""
        while not self._should_stop():
            try:
                await asyncio.wait_for(self._dirty_event.wait(), 1.0)
            except asyncio.TimeoutError:
                continue
            self._dirty_event.clear()
            queues, self._dirty = self._dirty, set()
            for queue in queues:
                mine = [w for w in self._waiting.values() if w.queue == queue]
                if not mine:
                    continue
                try:
                    ids = [i.decode() for i in await self._r.zrange(self._k("q:" + queue), 0, -1)]
                except _REDIS_ERRORS as exc:
                    self._failed(exc)
                    break
                for w in mine:
                    if w.tid not in ids or w.tid not in self._waiting:
                        continue
                    status = {"type": "lobby", "have": len(ids), "need": w.lobby.n, "position": ids.index(w.tid) + 1}
                    if w.code is not None:
                        status["code"] = w.code
                    self._text(w.sock, status)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _text(sock: Any, obj: Any) -> None:
        if not sock.closed:
            sock.text(codec.encode_text(obj))

    def _spawn(self, coro: Any) -> None:
        if self._server is not None:
            self._server.spawn(coro)
        else:  # pragma: no cover - a backend started without a server
            asyncio.get_running_loop().create_task(coro)


def _stream_id(entry_id: str | bytes) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _jsonable(identity: Any) -> Any:
    try:
        json.dumps(identity)
        return identity
    except (TypeError, ValueError):
        return {"name": str(identity.get("name") if isinstance(identity, dict) else identity)}
