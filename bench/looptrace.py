"""Where a move's latency goes: the rooms server traced from inside, under the suite's load.

    python -m bench.looptrace                       # chess, asyncio's loop then uvloop
    python -m bench.looptrace --loops asyncio --load matchmaking --duration 3

Runs ``bench/servers/ours_rooms.py``'s app in a server process pinned to one CPU,
instrumented from the outside (nothing in ``ws`` or ``rooms`` knows about it), and
the suite's own load generator (``bench.scenarios``) pinned to the other, asking it to
stamp every move.  The server records, on the machine's monotonic clock:

- per event-loop iteration (asyncio's loop only: a selector that times its
  ``select``): how long the callbacks of that iteration ran, how many I/O events the
  selector returned, how many callbacks were scheduled with ``call_soon`` and by whom;
- per move: when its bytes were read (``WebSocket.buffer_updated``), when the game's
  task had it (``Room.receive`` returned), when the broadcast was written, and how
  many iterations lay in between;
- per match: the second player's ``auth`` stamp, the room opened, the game's first
  line, and the iterations in between.

Joined with the client's send and receive stamps of the same move (room, ply), a
move's round trip splits into: client to server read (the request waiting in the
socket while the server's loop is busy), read to the game task (the wake-up), the
game itself, and write to the client's callback.  Also reported: the server's CPU
time per move and per game (``time.process_time``), which the machine's other load
does not inflate.  Nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import json
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .echo import HOST, ROOT, Options, RunningServer, cpu_plan, free_port, run_client
from .processes import log_tail, stop, wait_accepting

__all__ = ["Trace", "install", "summarise", "main"]

MAX_RECORDS = 200_000  # bounds every list the server keeps
STARTUP_TIMEOUT = 15.0
clock = time.perf_counter  # CLOCK_MONOTONIC on Linux: one clock for both processes


class Trace:
    """What the instrumented server records (bounded lists, plain numbers)."""

    def __init__(self) -> None:
        self.iteration = 0
        self.select_exit = 0.0
        self.busy: list[float] = []  # seconds of callbacks per iteration
        self.events: list[int] = []  # I/O events per iteration
        self.soon: list[int] = []  # call_soon per iteration
        self.soon_now = 0
        self.soon_by: collections.Counter[str] = collections.Counter()
        self.reads: dict[int, tuple[float, int]] = {}  # id(socket) -> (time, iteration) of its last read
        self.moves: list[tuple[str, int, float, int, float, int, float, int]] = []
        self.matches: list[tuple[float, float, int, float, int]] = []
        self.accepted: dict[int, tuple[int, float]] = {}
        self.connections: list[tuple[int, float, float]] = []  # peer port, accepted, upgraded
        self.writes = 0
        self.games = 0  # games over, in the whole run
        self.cpu0 = time.process_time()
        # (wall, this thread's CPU) pairs at each select and read: a wall instant's
        # server CPU time by interpolation, for latencies in server CPU time.
        self.samples: list[tuple[float, float]] = []

    def sample(self) -> float:
        now = clock()
        if len(self.samples) < 4 * MAX_RECORDS:
            self.samples.append((now, time.thread_time()))
        return now

    def dump(self) -> dict[str, Any]:
        return {
            "busy": self.busy, "events": self.events, "soon": self.soon,
            "soon_by": dict(self.soon_by.most_common(20)), "moves": self.moves,
            "matches": self.matches, "writes": self.writes, "samples": self.samples,
            "connections": self.connections, "games": self.games,
            "cpu_seconds": time.process_time() - self.cpu0,
        }


class _TracingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Times each ``select``: the gap since the last one is the iteration's callbacks."""

    trace: Trace

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        tr = self.trace
        entered = tr.sample()
        if tr.iteration and len(tr.busy) < MAX_RECORDS:
            tr.busy.append(entered - tr.select_exit)
            tr.soon.append(tr.soon_now)
        ready = super().select(timeout)
        tr.select_exit = tr.sample()
        tr.iteration += 1
        tr.soon_now = 0
        if len(tr.events) < MAX_RECORDS:
            tr.events.append(len(ready))
        return ready


def _name(callback: Callable[..., Any]) -> str:
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    owner = getattr(callback, "__self__", None)
    if owner is not None and not isinstance(owner, type):
        name = f"{type(owner).__name__}.{getattr(callback, '__name__', name)}"
    return str(name)


def tracing_loop(trace: Trace) -> asyncio.AbstractEventLoop:
    """asyncio's selector loop, with a timed selector and counted ``call_soon``."""

    class TracingLoop(asyncio.SelectorEventLoop):
        def call_soon(self, callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
            trace.soon_now += 1
            trace.soon_by[_name(callback)] += 1
            return super().call_soon(callback, *args, context=context)

    selector = _TracingSelector()
    selector.trace = trace
    return TracingLoop(selector)


def install(trace: Trace) -> None:
    """Stamp reads, game wake-ups, broadcasts and matches (wrapping public methods)."""
    import rooms
    import ws

    read = ws.WebSocket.buffer_updated

    def buffer_updated(self: ws.WebSocket, nbytes: int) -> None:
        trace.reads[id(self)] = (trace.sample(), trace.iteration)
        read(self, nbytes)

    ws.WebSocket.buffer_updated = buffer_updated  # type: ignore[method-assign]

    receive = rooms.Room.receive
    woken: dict[int, tuple[float, int, float, int]] = {}  # id(room) -> read, woken

    async def traced_receive(self: rooms.Room) -> tuple[rooms.Player, Any]:
        player, msg = await receive(self)
        got = trace.reads.get(id(player.sock), (0.0, 0))
        woken[id(self)] = (got[0], got[1], trace.sample(), trace.iteration)
        return player, msg

    rooms.Room.receive = traced_receive  # type: ignore[method-assign]

    broadcast = rooms.Room.broadcast

    def traced_broadcast(self: rooms.Room, obj: Any, **kwargs: Any) -> int:
        sent = broadcast(self, obj, **kwargs)
        if isinstance(obj, dict) and obj.get("type") == "game_over":
            trace.games += 1
        if isinstance(obj, dict) and obj.get("type") == "move" and len(trace.moves) < MAX_RECORDS:
            t_read, i_read, t_wake, i_wake = woken.get(id(self), (0.0, 0, 0.0, 0))
            ply = len(obj["state"]["moves"])
            trace.moves.append((self.id, ply, t_read, i_read, t_wake, i_wake, trace.sample(), trace.iteration))
        return sent

    rooms.Room.broadcast = traced_broadcast  # type: ignore[method-assign]

    open_room = rooms.Lobby.open_room

    def traced_open_room(self: rooms.Lobby, *args: Any, **kwargs: Any) -> rooms.Room:
        room = open_room(self, *args, **kwargs)
        room.state = ("opened", clock(), trace.iteration)
        return room

    rooms.Lobby.open_room = traced_open_room  # type: ignore[method-assign]

    made = ws.server.HTTPConnection.connection_made
    upgrade = ws.server.HTTPConnection.upgrade

    def traced_made(self: Any, transport: Any) -> None:
        made(self, transport)
        trace.accepted[id(self)] = (transport.get_extra_info("peername")[1], trace.sample())

    def traced_upgrade(self: Any, *args: Any, **kwargs: Any) -> Any:
        sock = upgrade(self, *args, **kwargs)
        port, t_made = trace.accepted.pop(id(self), (0, 0.0))
        if len(trace.connections) < MAX_RECORDS:
            trace.connections.append((port, t_made, trace.sample()))
        return sock

    ws.server.HTTPConnection.connection_made = traced_made  # type: ignore[method-assign]
    ws.server.HTTPConnection.upgrade = traced_upgrade  # type: ignore[method-assign]


def _traced_app(trace: Trace) -> Any:
    import rooms
    from bench.servers.ours_rooms import make_app

    app = make_app()
    lobby = app.router.resolve("GET", "/match")[0]
    game = lobby.game

    async def match(room: rooms.Room) -> None:
        first = clock()
        opened = room.state if isinstance(room.state, tuple) else ("", first, trace.iteration)
        room.state = None
        auth = max(p.identity["t"] for p in room.players)
        if len(trace.matches) < MAX_RECORDS:
            trace.matches.append((auth, opened[1], opened[2], first, trace.iteration))
        await game(room)

    lobby.game = match
    return app


def serve(args: argparse.Namespace) -> None:
    """The server process: the rooms app on an instrumented loop; SIGTERM dumps the trace."""
    import ws

    trace = Trace()
    install(trace)
    if args.uvloop:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = tracing_loop(trace)

    async def main() -> None:
        limits = ws.ServerLimits(max_connections=20_000, max_connections_per_ip=20_000)
        server = await ws.serve(_traced_app(trace), args.host, args.port, limits=limits)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, server.close)
        await server.wait_closed()

    try:
        loop.run_until_complete(main())
    finally:
        Path(args.out).write_text(json.dumps(trace.dump()))
        loop.close()


# -- the driver ----------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stats(values: Sequence[float], scale: float = 1.0) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "mean": None, "p50": None, "p99": None}
    return {"n": len(values), "mean": statistics.fmean(values) * scale,
            "p50": (_pct(values, 0.5) or 0) * scale, "p99": (_pct(values, 0.99) or 0) * scale}


def _cpu_clock(samples: Sequence[Sequence[float]]) -> Callable[[float], float]:
    """The server's CPU time at a wall instant, interpolated between samples."""
    walls = [w for w, _ in samples]
    cpus = [c for _, c in samples]

    def cpu_at(t: float) -> float:
        if not walls:
            return 0.0
        i = bisect.bisect_left(walls, t)
        if i <= 0:
            return cpus[0]
        if i >= len(walls):
            return cpus[-1]
        w0, w1, c0, c1 = walls[i - 1], walls[i], cpus[i - 1], cpus[i]
        return c0 + (c1 - c0) * ((t - w0) / (w1 - w0) if w1 > w0 else 0.0)

    return cpu_at


def summarise(server: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    """Join the client's moves with the server's; split each round trip in four."""
    out: dict[str, Any] = {"client": {k: v for k, v in client.items() if k not in ("trace", "cycles")}}
    if server.get("busy"):
        out["iterations"] = {
            "count": len(server["busy"]),
            "busy_ms": _stats(server["busy"], 1e3),
            "events": _stats(server["events"]),
            "call_soon": _stats(server["soon"]),
            "call_soon_by": server["soon_by"],
        }
    moves = {(m[0], m[1]): m for m in server.get("moves", ())}
    parts: dict[str, list[float]] = {k: [] for k in ("to_read", "read_to_wake", "game", "to_client", "total")}
    cpu_parts: dict[str, list[float]] = {k: [] for k in ("to_read", "read_to_wake", "game")}
    cpu_at = _cpu_clock(server.get("samples", ()))
    iterations: list[float] = []
    for room, ply, sent, received in client.get("trace", ()):
        m = moves.get((room, ply))
        if m is None or not m[2]:
            continue
        _, _, t_read, i_read, t_wake, i_wake, t_write, _ = m
        parts["to_read"].append(t_read - sent)
        parts["read_to_wake"].append(t_wake - t_read)
        parts["game"].append(t_write - t_wake)
        parts["to_client"].append(received - t_write)
        parts["total"].append(received - sent)
        c_sent, c_read, c_wake, c_write = map(cpu_at, (sent, t_read, t_wake, t_write))
        cpu_parts["to_read"].append(c_read - c_sent)
        cpu_parts["read_to_wake"].append(c_wake - c_read)
        cpu_parts["game"].append(c_write - c_wake)
        iterations.append(i_wake - i_read)
    out["moves"] = {k: _stats(v, 1e3) for k, v in parts.items()}
    out["moves"]["iterations_read_to_wake"] = _stats(iterations)
    out["moves_in_server_cpu_ms"] = {k: _stats(v, 1e3) for k, v in cpu_parts.items()}
    phases: dict[str, list[float]] = {k: [] for k in ("connect", "to_matched", "to_start", "game", "to_disconnected", "round")}
    # The server's side of each connection, by the client's port, the nearest in time.
    by_port: dict[int, list[tuple[float, float]]] = {}
    for port, t_made, t_up in server.get("connections", ()):
        by_port.setdefault(port, []).append((t_made, t_up))
    connect: dict[str, list[float]] = {"to_accepted": [], "accepted_to_101": [], "101_to_client": []}
    for began, upgraded, matched, start, over, done, port in client.get("cycles", ()):
        if not (matched and start and over):
            continue
        for key, value in zip(phases, (upgraded - began, matched - upgraded, start - matched, over - start, done - over, done - began), strict=True):
            phases[key].append(value)
        found = [c for c in by_port.get(port, ()) if began <= c[0] <= upgraded]
        if found:
            t_made, t_up = found[0]
            connect["to_accepted"].append(t_made - began)
            connect["accepted_to_101"].append(t_up - t_made)
            connect["101_to_client"].append(upgraded - t_up)
    if connect["to_accepted"]:
        out["connect_ms"] = {k: _stats(v, 1e3) for k, v in connect.items()}
    if phases["round"]:
        out["bot_round_ms"] = {k: _stats(v, 1e3) for k, v in phases.items()}
    matches = server.get("matches", ())
    if matches:
        out["matches"] = {
            "auth_to_open_ms": _stats([m[1] - m[0] for m in matches], 1e3),
            "open_to_first_line_ms": _stats([m[3] - m[1] for m in matches], 1e3),
            "iterations_open_to_first_line": _stats([m[4] - m[2] for m in matches]),
        }
    games = client.get("games") or client.get("players_matched") or 0
    out["server_cpu_seconds"] = server.get("cpu_seconds")
    if server.get("games"):
        out["server_cpu_ms_per_game"] = server["cpu_seconds"] / server["games"] * 1e3
    if server.get("syscalls"):
        out["syscalls_per_game"] = {k: v / server["games"] for k, v in server["syscalls"].items()} if server.get("games") else None
    out["games_or_players"] = games
    return out


def report(name: str, result: Mapping[str, Any]) -> str:
    """A few lines per run: p50/p99 of each part (wall ms, then server CPU ms)."""
    def cell(stats: Mapping[str, Any] | None) -> str:
        if not stats or stats.get("p50") is None:
            return "-"
        return f"{stats['p50']:.2f}/{stats['p99']:.2f}"

    client = result["client"]
    lines = [f"== {name}: {client.get('value', 0):.0f}/s, server cpu {client.get('server_cpu') or 0:.0%},"
             f" client cpu {client.get('client_cpu') or 0:.0%}, load {result.get('load_average')}"]
    moves, cpu = result.get("moves", {}), result.get("moves_in_server_cpu_ms", {})
    if moves.get("total", {}).get("n"):
        lines.append("  move p50/p99 ms   " + "  ".join(f"{k} {cell(v)}" for k, v in moves.items() if k != "iterations_read_to_wake"))
        lines.append("  in server cpu ms  " + "  ".join(f"{k} {cell(v)}" for k, v in cpu.items()))
    if "bot_round_ms" in result:
        lines.append("  bot round ms      " + "  ".join(f"{k} {cell(v)}" for k, v in result["bot_round_ms"].items()))
    if "connect_ms" in result:
        lines.append("  connect ms        " + "  ".join(f"{k} {cell(v)}" for k, v in result["connect_ms"].items()))
    if "matches" in result:
        lines.append("  match ms          " + "  ".join(f"{k} {cell(v)}" for k, v in result["matches"].items()))
    if "server_cpu_ms_per_game" in result:
        per = result.get("syscalls_per_game") or {}
        lines.append(f"  server cpu per game {result['server_cpu_ms_per_game']:.2f} ms (whole run);"
                     + "".join(f" {k} {v:.1f}" for k, v in per.items()) + (" per game" if per else ""))
    if "iterations" in result:
        it = result["iterations"]
        lines.append(f"  iterations {it['count']}: busy ms {cell(it['busy_ms'])} (mean {it['busy_ms']['mean']:.2f}),"
                     f" events {cell(it['events'])} (mean {it['events']['mean']:.1f}),"
                     f" call_soon {cell(it['call_soon'])} (mean {it['call_soon']['mean']:.1f})")
    return "\n".join(lines)


def run_once(loop_name: str, load: str, opts: Options, server_cpu: int | None, params: Mapping[str, Any],
             syscalls: bool = False) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="looptrace-") as tmp:
        out, log = Path(tmp) / "trace.json", Path(tmp) / "server.log"
        cmd = [sys.executable, "-m", "bench.looptrace", "serve", "--host", HOST, "--port", str(port), "--out", str(out)]
        if loop_name == "uvloop":
            cmd.append("--uvloop")
        counts = Path(tmp) / "perf.txt"
        pin = (lambda: os.sched_setaffinity(0, {server_cpu})) if server_cpu is not None else None
        with log.open("wb") as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=f, stdin=subprocess.DEVNULL, preexec_fn=pin)
        try:
            wait_accepting(proc, HOST, port, log, STARTUP_TIMEOUT, RuntimeError)
            counter = None
            if syscalls and shutil.which("perf"):
                # The server's system calls, counted by the kernel: steady however loaded the machine is.
                events = ",".join(f"syscalls:sys_enter_{name}" for name in SYSCALLS)
                counter = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", str(proc.pid), "-o", str(counts)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            running = RunningServer(loop_name, proc.pid, HOST, port, tuple(cmd))
            client_trace = Path(tmp) / "client.json"
            try:
                client = run_client(load, {**params, "trace": str(client_trace)}, running, opts)
            finally:
                if counter is not None:
                    counter.send_signal(signal.SIGINT)
                    counter.wait(10)
            if client_trace.exists():
                client.update(json.loads(client_trace.read_text()))
        finally:
            stop(proc)
        if not out.exists():
            raise RuntimeError(f"the server left no trace\n{log_tail(log)}")
        server = json.loads(out.read_text())
        if counts.exists():
            server["syscalls"] = _perf_counts(counts.read_text())
    return summarise(server, client)


SYSCALLS = ("epoll_wait", "epoll_pwait", "recvfrom", "read", "sendto", "write", "writev", "accept4")


def _perf_counts(text: str) -> dict[str, int]:
    """``perf stat -x ,`` output: event name -> count."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            found[fields[2].rpartition("sys_enter_")[2]] = int(fields[0])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.looptrace", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("serve", help="(internal) the instrumented server")
    srv.add_argument("--host", default=HOST)
    srv.add_argument("--port", type=int, required=True)
    srv.add_argument("--out", required=True)
    srv.add_argument("--uvloop", action="store_true")
    parser.add_argument("--loops", default="asyncio,uvloop")
    parser.add_argument("--load", default="chess", choices=("chess", "matchmaking"))
    parser.add_argument("--pairs", type=int, default=50, help="chess games at once (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=200, help="matchmaking players at once")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--syscalls", action="store_true", help="count the server's system calls with perf stat")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "looptrace.json")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
        return 0
    if not (0 < args.duration <= 30 and 0 <= args.warmup <= 10 and 1 <= args.repeat <= 10):
        parser.error("--duration 0..30 s, --warmup 0..10 s, --repeat 1..10")
    server_cpu, client_cpu = cpu_plan()
    opts = Options(duration=args.duration, warmup=args.warmup, client_cpu=client_cpu)
    params = {"pairs": args.pairs} if args.load == "chess" else {"concurrency": args.concurrency}
    results: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for loop_name in args.loops.split(","):
            result = run_once(loop_name, args.load, opts, server_cpu, params, syscalls=args.syscalls)
            result["load_average"] = os.getloadavg()
            results.setdefault(loop_name, []).append(result)
            print(report(loop_name, result), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
