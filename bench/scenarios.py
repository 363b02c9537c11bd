"""The suite's scenarios beyond echo: broadcast, idle memory, matchmaking, whole games.

Each is registered in ``bench.echo``'s registry (``@scenario``) with the client load it
runs in the load-generator process (``CLIENT_LOADS``), so ``python -m bench`` runs them
the same way as the echo scenarios: one server at a time, pinned to one CPU, and the
same picows client on the other.

- ``broadcast-1000``: 1,000 clients connected; one of them keeps a few 32 B messages in
  flight; the server sends each to all 1,000.  Deliveries per second, all clients.
- ``idle-5000``: server RSS growth per connection with 5,000 idle connections open
  (after one warm-up connection).  Lower is better.
- ``matchmaking``: players connect to a 2-player lobby, are matched, the room's handler
  says "go" and ends.  Players matched per second; latency from the second player's
  upgrade to the handler's first line (measured in the server), p50 and p99.
- ``chess``: bots play Scholar's mate through the chess example, many games at once,
  leaving after each game and queueing again.  Games per second; move latency (sent to
  the broadcast of that move coming back to the mover), p50 and p99.

The last two run on our servers only: the peers have no rooms layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any

from .echo import (
    CLIENT_LOADS,
    CONNECT_TIMEOUT,
    MAX_CONNECTIONS,
    Measurement,
    Options,
    RunningServer,
    process_cpu_seconds,
    run_client,
    scenario,
)

__all__ = ["process_rss"]


def process_rss(pid: int) -> int | None:
    """Resident set size of a process in bytes, from /proc (None where unavailable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _close_all(transports: list[Any], timeout: float = 5.0) -> None:
    """Close politely (Close frame, wait for the server's), bounded; then drop the rest."""
    from picows import WSCloseCode

    for transport in transports:
        if not transport.is_disconnected:
            with contextlib.suppress(Exception):
                transport.send_close(WSCloseCode.OK)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(t.wait_disconnected() for t in transports))
    for transport in transports:
        if not transport.is_disconnected:
            transport.disconnect(graceful=False)


async def _connect_many(factory: Any, url: str, n: int, concurrency: int = 50) -> list[Any]:
    from picows import ws_connect

    listeners: list[Any] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            _, listener = await ws_connect(factory, url)
            listeners.append(listener)

    async with asyncio.timeout(CONNECT_TIMEOUT):
        await asyncio.gather(*(one() for _ in range(n)))
    return listeners


# -- broadcast ---------------------------------------------------------------------------


async def broadcast_load(spec: Mapping[str, Any]) -> Measurement:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport

    n: int = spec["connections"]
    in_flight: int = spec["in_flight"]
    size: int = spec["size"]
    if not (0 < n <= MAX_CONNECTIONS and 0 < in_flight <= 64 and 0 < size <= 1 << 16):
        raise ValueError("broadcast load out of bounds")
    payload = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    state = {"running": True}

    class Member(WSListener):
        def __init__(self) -> None:
            self.transport: WSTransport | None = None
            self.count = 0
            self.errors = 0
            self.sender = False
            self.dropped = False

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.TEXT:
                if self.count == 0 and frame.get_payload_as_bytes() != payload:
                    self.errors += 1
                self.count += 1
                if self.sender and state["running"]:
                    transport.send(WSMsgType.TEXT, payload)
            elif kind is WSMsgType.CLOSE:
                if state["running"]:
                    self.dropped = True
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if state["running"]:
                self.dropped = True

    members = await _connect_many(Member, spec["url"], n)
    await asyncio.sleep(0.3)  # let the server's handlers register every connection
    sender = members[0]
    sender.sender = True
    for _ in range(in_flight):
        sender.transport.send(WSMsgType.TEXT, payload)

    await asyncio.sleep(spec["warmup"])
    pid = spec["server_pid"]
    count0, t0 = sum(m.count for m in members), time.perf_counter()
    cpu0, server0 = time.process_time(), process_cpu_seconds(pid)
    await asyncio.sleep(spec["duration"])
    count1, t1 = sum(m.count for m in members), time.perf_counter()
    cpu1, server1 = time.process_time(), process_cpu_seconds(pid)
    elapsed = t1 - t0

    state["running"] = False
    # Let the deliveries in flight arrive (bounded), then close.
    last, deadline = -1, time.monotonic() + 3.0
    while time.monotonic() < deadline:
        total = sum(m.count for m in members)
        if total == last:
            break
        last = total
        await asyncio.sleep(0.1)
    await _close_all([m.transport for m in members])
    return {
        "value": (count1 - count0) / elapsed,
        "deliveries": count1 - count0,
        "seconds": elapsed,
        "connections": n,
        "in_flight": in_flight,
        "size": size,
        "errors": sum(m.errors for m in members),
        "dropped_connections": sum(m.dropped for m in members),
        "client_cpu": (cpu1 - cpu0) / elapsed,
        "server_cpu": None if server0 is None or server1 is None else (server1 - server0) / elapsed,
    }


# -- idle memory -------------------------------------------------------------------------


async def idle_load(spec: Mapping[str, Any]) -> Measurement:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport

    n: int = spec["connections"]
    if not (1 < n <= MAX_CONNECTIONS):
        raise ValueError("idle load out of bounds")
    state = {"running": True}

    class Idle(WSListener):
        def __init__(self) -> None:
            self.transport: WSTransport | None = None
            self.dropped = False

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.CLOSE:
                if state["running"]:
                    self.dropped = True
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if state["running"]:
                self.dropped = True

    pid = spec["server_pid"]
    first = await _connect_many(Idle, spec["url"], 1)  # imports and caches warmed up
    await asyncio.sleep(0.5)
    rss0 = process_rss(pid)
    t0 = time.perf_counter()
    rest = await _connect_many(Idle, spec["url"], n - 1, concurrency=100)
    connect_seconds = time.perf_counter() - t0
    await asyncio.sleep(spec["settle"])
    rss1 = process_rss(pid)
    state["running"] = False
    members = first + rest
    dropped = sum(m.dropped for m in members)
    await _close_all([m.transport for m in members], timeout=10.0)
    if rss0 is None or rss1 is None:
        raise RuntimeError("cannot read the server's RSS")
    return {
        "value": (rss1 - rss0) / (n - 1),
        "rss_before": rss0,
        "rss_after": rss1,
        "connections": n,
        "connect_seconds": connect_seconds,
        "errors": 0,
        "dropped_connections": dropped,
    }


# -- matchmaking (ours only) -------------------------------------------------------------


async def matchmaking_load(spec: Mapping[str, Any]) -> Measurement:
    """``concurrency`` players at a time: connect, wait for "go", let the room end, again."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    concurrency: int = spec["concurrency"]
    if not (1 < concurrency <= 2000):
        raise ValueError("matchmaking load out of bounds")
    url = spec["url"].rstrip("/") + "/match"
    loop = asyncio.get_running_loop()
    window = {"open": False, "matched": 0, "errors": 0}
    latencies: list[float] = []

    class Player(WSListener):
        def __init__(self) -> None:
            self.go: asyncio.Future[float] = loop.create_future()

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.TEXT:
                msg = json.loads(frame.get_payload_as_bytes())
                if msg.get("type") == "go" and not self.go.done():
                    self.go.set_result(float(msg["latency"]))
            elif kind is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if not self.go.done():
                self.go.set_exception(ConnectionError("closed before go"))

    stop = asyncio.Event()
    open_transports: set[Any] = set()

    async def player() -> None:
        while not stop.is_set():
            transport, listener = await ws_connect(Player, url)
            open_transports.add(transport)
            try:
                try:
                    async with asyncio.timeout(10):
                        latency = await listener.go
                except (ConnectionError, TimeoutError):
                    window["errors"] += window["open"]
                    continue
                if window["open"]:
                    window["matched"] += 1
                    latencies.append(latency)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await transport.wait_disconnected()  # the room ends: close 1000
            finally:
                open_transports.discard(transport)
                if not transport.is_disconnected:
                    transport.disconnect(graceful=False)

    workers = [asyncio.create_task(player()) for _ in range(concurrency)]
    try:
        await asyncio.sleep(spec["warmup"])
        pid = spec["server_pid"]
        window["open"] = True
        t0, server0, cpu0 = time.perf_counter(), process_cpu_seconds(pid), time.process_time()
        await asyncio.sleep(spec["duration"])
        window["open"] = False
        t1, server1, cpu1 = time.perf_counter(), process_cpu_seconds(pid), time.process_time()
        stop.set()
        # Workers finish their current round (a partner for each is still coming).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*workers, return_exceptions=True)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await _close_all(list(open_transports), timeout=2.0)
    elapsed = t1 - t0
    return {
        "value": window["matched"] / elapsed,
        "players_matched": window["matched"],
        "seconds": elapsed,
        "concurrency": concurrency,
        "p50_ms": _ms(_percentile(latencies, 0.50)),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "errors": window["errors"],
        "server_cpu": None if server0 is None or server1 is None else (server1 - server0) / elapsed,
        "client_cpu": (cpu1 - cpu0) / elapsed,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


# -- whole chess games (ours only) -------------------------------------------------------

SCHOLARS_MATE = ("e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Qxf7#")
MAX_TRACE = 200_000  # moves kept by a traced run


async def chess_load(spec: Mapping[str, Any]) -> Measurement:
    """``pairs`` games at once: 2 x pairs bots queue in the ``bench`` lobby, play
    Scholar's mate (whoever is matched with whom), leave, and queue again."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    pairs: int = spec["pairs"]
    if not (0 < pairs <= 1000):
        raise ValueError("chess load out of bounds")
    url = spec["url"].rstrip("/") + "/chess/ws?mode=bench&name=bot"
    loop = asyncio.get_running_loop()
    window = {"open": False, "games": 0, "errors": 0}
    latencies: list[float] = []
    # With "trace" (a file name): each move measured as (room, ply, sent, received) on
    # the machine's monotonic clock, for bench.looptrace to join with the server's side.
    trace: list[tuple[str, int, float, float]] | None = [] if spec.get("trace") else None
    # And each bot's round: connect, upgraded, matched, start, game over, disconnected,
    # and its local port (the server knows the connection by it).
    cycles: list[tuple[float, ...]] = []

    class Bot(WSListener):
        def __init__(self) -> None:
            self.seat: int | None = None
            self.room = ""
            self.color: str | None = None
            self.sent_at: float | None = None
            self.done: asyncio.Future[None] = loop.create_future()
            self.stamps = [0.0, 0.0, 0.0]  # matched, start, game over

        def play(self, transport: WSTransport, state: dict[str, Any]) -> None:
            if state["turn"] != self.color or state.get("outcome"):
                return
            ply = len(state["moves"])
            if ply >= len(SCHOLARS_MATE):
                return
            self.sent_at = time.perf_counter()
            transport.send(WSMsgType.TEXT, json.dumps({"type": "move", "san": SCHOLARS_MATE[ply]}).encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if kind is not WSMsgType.TEXT:
                return
            msg = json.loads(frame.get_payload_as_bytes())
            kind = msg.get("type")
            if kind == "matched":
                self.seat = msg["seat"]
                self.room = msg["room"]
                self.stamps[0] = time.perf_counter()
            elif kind == "start":
                self.stamps[1] = time.perf_counter()
                state = msg["state"]
                self.color = "white" if state["colors"]["white"]["seat"] == self.seat else "black"
                self.play(transport, state)
            elif kind == "move":
                if msg["move"]["color"] == self.color and self.sent_at is not None:
                    if window["open"]:
                        now = time.perf_counter()
                        latencies.append(now - self.sent_at)
                        if trace is not None and len(trace) < MAX_TRACE:
                            trace.append((self.room, len(msg["state"]["moves"]), self.sent_at, now))
                    self.sent_at = None
                self.play(transport, msg["state"])
            elif kind == "game_over":
                self.stamps[2] = time.perf_counter()
                if self.color == "white" and window["open"]:
                    window["games"] += 1
                transport.send(WSMsgType.TEXT, b'{"type": "leave"}')
            elif kind == "error":
                window["errors"] += window["open"]

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if not self.done.done():
                self.done.set_result(None)

    stop = asyncio.Event()
    open_transports: set[Any] = set()

    async def bot() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            transport, listener = await ws_connect(Bot, url)
            upgraded = time.perf_counter()
            open_transports.add(transport)
            try:
                async with asyncio.timeout(15):
                    await listener.done
                if trace is not None and window["open"] and len(cycles) < MAX_TRACE:
                    port = transport.underlying_transport.get_extra_info("sockname")[1]
                    cycles.append((began, upgraded, *listener.stamps, time.perf_counter(), port))
            except TimeoutError:
                window["errors"] += window["open"]
            finally:
                open_transports.discard(transport)
                if not transport.is_disconnected:
                    transport.disconnect(graceful=False)

    workers = [asyncio.create_task(bot()) for _ in range(2 * pairs)]
    try:
        await asyncio.sleep(spec["warmup"])
        pid = spec["server_pid"]
        window["open"] = True
        t0, server0, cpu0 = time.perf_counter(), process_cpu_seconds(pid), time.process_time()
        await asyncio.sleep(spec["duration"])
        window["open"] = False
        t1, server1, cpu1 = time.perf_counter(), process_cpu_seconds(pid), time.process_time()
        stop.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*workers, return_exceptions=True)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await _close_all(list(open_transports), timeout=2.0)
    elapsed = t1 - t0
    if trace is not None:  # large: to a file, not into the one line the harness reads
        with open(spec["trace"], "w") as f:
            json.dump({"trace": trace, "cycles": cycles}, f)
    return {
        "value": window["games"] / elapsed,
        "games": window["games"],
        "moves": len(latencies),
        "seconds": elapsed,
        "pairs": pairs,

        "p50_ms": _ms(_percentile(latencies, 0.50)),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "errors": window["errors"],
        "server_cpu": None if server0 is None or server1 is None else (server1 - server0) / elapsed,
        "client_cpu": (cpu1 - cpu0) / elapsed,
    }


CLIENT_LOADS.update({
    "broadcast": broadcast_load,
    "idle": idle_load,
    "matchmaking": matchmaking_load,
    "chess": chess_load,
})


# -- scenarios ---------------------------------------------------------------------------


@scenario("broadcast-1000", "32 B text from one client to 1,000 connected clients, 8 in flight",
          metric="deliveries/s", role="broadcast")
def broadcast_1000(server: RunningServer, opts: Options) -> Measurement:
    return run_client("broadcast", {"connections": 1000, "in_flight": 8, "size": 32}, server, opts)


@scenario("idle-5000", "server RSS per idle connection, 5,000 connections open",
          metric="bytes/connection", role="idle", higher_is_better=False)
def idle_5000(server: RunningServer, opts: Options) -> Measurement:
    return run_client("idle", {"connections": 5000, "settle": 2.0}, server, opts)


@scenario("matchmaking", "2-player lobby: connect, match, handler says go, room ends; 200 players at once",
          metric="players matched/s", role="matchmaking",
          extra=(("p50_ms", "p50 ms", "ms from 2nd upgrade to handler", False),
                 ("p99_ms", "p99 ms", "ms from 2nd upgrade to handler", False)))
def matchmaking(server: RunningServer, opts: Options) -> Measurement:
    return run_client("matchmaking", {"concurrency": 200}, server, opts)


@scenario("chess", "chess example: 50 games at once of Scholar's mate, bots leave and requeue",
          metric="games/s", role="chess",
          extra=(("p50_ms", "move p50 ms", "ms", False), ("p99_ms", "move p99 ms", "ms", False)))
def chess_games(server: RunningServer, opts: Options) -> Measurement:
    return run_client("chess", {"pairs": 50}, server, opts)

