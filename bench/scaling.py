"""Scaling benchmark: the Redis backend over two processes against the in-memory
backend in one process.  ``python -m bench.scaling [--players 2000] [--messages 2000]``

Measures, for each setup:

- **matched/s**: players that got ``matched`` per second, with ``--concurrency``
  clients joining at a time (each joins, waits for ``matched``, and leaves; the
  game ends at once).  With two processes, clients alternate between them, so
  most groups are matched across processes.
- **relay latency**: one player sends a message, the game forwards it to the
  other player; time from send to receipt (both clients live in this driver
  process, so one clock), one message at a time.  With two processes the players
  are on different processes, so every message crosses Redis once (edge to host,
  or host to edge); p50 and p99 of each direction.

Every server (and redis-server, started here on a free port with no
persistence, in a temporary directory) runs as its own process on 127.0.0.1;
all are stopped by PID at the end.  Needs ``redis-server`` and the ``redis``
package.  Results are printed and written to ``bench/results/scaling.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ws

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- the server side


def build_app(backend: Any) -> ws.App:
    import rooms

    async def quick(room: rooms.Room) -> Any:
        return None  # matching is what we measure

    async def relay(room: rooms.Room) -> Any:
        async for player, msg in room:
            if msg == "end":
                return None
            for other in room.others(player):
                other.send(msg)

    app = ws.App()
    app.route("/match")(rooms.Lobby(2, quick, backend=backend))
    app.route("/relay")(rooms.Lobby(2, relay, backend=backend))
    return app


async def serve(args: argparse.Namespace) -> None:
    import rooms

    backend = None
    if args.redis:
        backend = rooms.RedisBackend(args.redis, prefix="bench:", node_id=args.node, secret="bench secret, shared by nodes")
    server = await ws.serve(build_app(backend), "127.0.0.1", 0, limits=ws.ServerLimits(max_connections_per_ip=None))
    if backend is not None:
        await backend.start(server)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, server.close)
    print(f"READY {server.port}", flush=True)
    await server.wait_closed()
    if backend is not None:
        await backend.aclose()


# ---------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("bench.scaling needs redis-server (apt-get install redis-server)")
        self.dir = tempfile.TemporaryDirectory()
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        self.dir.cleanup()


async def start_server(redis: str | None = None, node: str = "n") -> tuple[asyncio.subprocess.Process, int]:
    cmd = [sys.executable, "-m", "bench.scaling", "serve", "--node", node]
    if redis:
        cmd += ["--redis", redis]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    if not line.startswith(b"READY "):
        proc.kill()
        raise RuntimeError(f"server {node} did not start")
    return proc, int(line.split()[1])


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()


# ---------------------------------------------------------------------- the measurements


async def _recv_type(sock: ws.WebSocket, kind: str) -> dict[str, Any]:
    while True:
        msg = json.loads(await sock)
        if msg.get("type") == kind:
            return msg


async def matching(ports: list[int], players: int, concurrency: int) -> float:
    """Players matched per second."""
    counter = iter(range(players))
    matched = 0

    async def worker(w: int) -> None:
        nonlocal matched
        for i in counter:
            port = ports[i % len(ports)]  # alternate: most groups span both processes
            sock = await ws.connect(f"ws://127.0.0.1:{port}/match")
            await asyncio.wait_for(_recv_type(sock, "matched"), 30)
            matched += 1
            sock.close()
            await sock.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return matched / (time.perf_counter() - started)


async def relay(ports: list[int], messages: int) -> dict[str, dict[str, float]]:
    """One-way latency, each direction: player 0 -> player 1 and back."""
    a = await ws.connect(f"ws://127.0.0.1:{ports[0]}/relay")
    await _recv_type(a, "lobby")
    b = await ws.connect(f"ws://127.0.0.1:{ports[-1]}/relay")
    await _recv_type(a, "matched")
    await _recv_type(b, "matched")
    times: dict[str, list[float]] = {"0->1": [], "1->0": []}
    for i in range(messages + 100):  # the first 100 warm up
        for label, src, dst in (("0->1", a, b), ("1->0", b, a)):
            t0 = time.perf_counter()
            src.text(json.dumps({"i": i}))
            msg = json.loads(await asyncio.wait_for(dst.recv(), 10))
            elapsed = time.perf_counter() - t0
            assert msg == {"i": i}
            if i >= 100:
                times[label].append(elapsed * 1e3)
    a.text(json.dumps("end"))
    for sock in (a, b):
        try:
            while True:
                await asyncio.wait_for(sock.recv(), 5)
        except (ws.Closed, asyncio.TimeoutError):
            pass
    return {label: _percentiles(samples) for label, samples in times.items()}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "max_ms": round(ordered[-1], 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "players": args.players,
        "concurrency": args.concurrency,
        "messages": args.messages,
    }
    proc, port = await start_server()
    try:
        results["memory, 1 process"] = {
            "matched_per_s": round(await matching([port], args.players, args.concurrency)),
            "relay": await relay([port], args.messages),
        }
    finally:
        await stop_server(proc)
    redis = Redis()
    procs = []
    try:
        for node in ("a", "b"):
            procs.append(await start_server(redis.url, node))
        ports = [p for _, p in procs]
        results["redis, 2 processes"] = {
            "matched_per_s": round(await matching(ports, args.players, args.concurrency)),
            "relay": await relay(ports, args.messages),
        }
        results["redis, 1 process"] = {
            "matched_per_s": round(await matching(ports[:1], args.players, args.concurrency)),
        }
    finally:
        for proc, _ in procs:
            await stop_server(proc)
        redis.stop()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling")
    sub = parser.add_subparsers(dest="command")
    srv = sub.add_parser("serve", help="(internal) run one server process")
    srv.add_argument("--redis")
    srv.add_argument("--node", default="n")
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scaling.json"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args))
        return
    results = asyncio.run(run(args))
    text = json.dumps(results, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
