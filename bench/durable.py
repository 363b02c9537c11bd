"""Durable rooms benchmark.  ``python -m bench.durable [--trials 20] [--moves 200]``

Measures, each on real processes on 127.0.0.1 (a private ``redis-server`` on a
free port, no persistence, and server processes running the chess example
with a ``RedisBackend``), all stopped by PID at the end:

- **kill -9 -> resumed**: a chess game between a player on process *a* and one
  on *b* (its host); after two moves *b* is killed (SIGKILL); the time until
  the player on *a* gets ``resumed`` from the adopting process.  ``--trials``
  times (b is started again between trials); p50, p99, max.  With the
  backend's default lease (``node_ttl`` 3 s, heartbeat 1 s) unless given.
- **replay speed**: in this process, a room of the memory backend with its log
  on plays ``--replay-messages`` messages; a second server adopts it from the
  log (``Lobby.adopt_room``): log entries replayed per second.
- **the cost of the log** (A/B in one run, the same two processes restarted
  with ``durable`` on, then off): chess move latency (a move sent by the
  player on *a* until its broadcast comes back, the room hosted on *b*: one
  log write on the way) p50/p99 over ``--moves`` moves, and matchmaking
  (players matched per second, ``--players`` joining 50 at a time).

Results are printed and written to ``bench/results/durable.json``.
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


# ---------------------------------------------------------------------- a server process


def serve_main(args: argparse.Namespace) -> None:
    import rooms
    from examples.games.chess.app import mount

    async def main() -> None:
        backend = rooms.RedisBackend(
            args.redis, prefix="bench:", node_id=args.node, secret="bench secret, shared by nodes",
            heartbeat=args.heartbeat, node_ttl=args.ttl, durable=bool(args.durable),
        )
        app = ws.App()
        mount(app, "/chess", time_controls={"long": (3600, 0)}, reconnect=60, rematch_window=0.5, backend=backend)

        async def quick(room: rooms.Room) -> Any:
            return None

        app.route("/quick")(rooms.Lobby(2, quick, backend=backend))
        server = await ws.serve(app, "127.0.0.1", 0)
        await backend.start(server)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, server.close)
        print(f"READY {server.port}", flush=True)
        await server.wait_closed()
        await backend.aclose()

    asyncio.run(main())


class Proc:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], port: int) -> None:
        self.name, self.proc, self.port = name, proc, port

    def url(self, path: str, **query: Any) -> str:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}{path}" + ("?" + qs if qs else "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_node(name: str, redis_url: str, args: argparse.Namespace, durable: bool, log_dir: Path) -> Proc:
    cmd = [sys.executable, "-m", "bench.durable", "--serve", "--redis", redis_url, "--node", name,
           "--ttl", str(args.ttl), "--heartbeat", str(args.heartbeat), "--durable", "1" if durable else "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=open(log_dir / f"{name}.log", "ab"))
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("READY "):
        raise RuntimeError(f"node {name} did not start: {(log_dir / f'{name}.log').read_text()[-2000:]}")
    return Proc(name, proc, int(line.split()[1]))


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


# ---------------------------------------------------------------------- clients


async def recv(sock: ws.WebSocket, *kinds: str, timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await sock)
            if msg.get("type") in kinds:
                return msg


async def chess_pair(first: Proc, second: Proc, tag: str) -> tuple[ws.WebSocket, ws.WebSocket, dict[str, Any], dict[str, Any]]:
    """A game hosted by *second*: (player on first, player on second, their matched)."""
    one = await ws.connect(first.url("/chess/ws", name=f"x{tag}", mode="long"))
    await recv(one, "lobby")
    two = await ws.connect(second.url("/chess/ws", name=f"y{tag}", mode="long"))
    m1, m2 = await recv(one, "matched"), await recv(two, "matched")
    await recv(one, "start")
    await recv(two, "start")
    return one, two, m1, m2


def _script(plies: int, seed: int = 7) -> list[str]:
    """A random legal game of up to *plies* moves that does not end (no mate, no draw to claim)."""
    import random

    import chess

    rng, board, moves = random.Random(seed), chess.Board(), []
    while len(moves) < plies:
        choices = sorted(m.uci() for m in board.legal_moves)
        rng.shuffle(choices)
        for uci in choices:
            board.push_uci(uci)
            if not board.is_game_over(claim_draw=True) and not board.is_repetition(2):
                moves.append(uci)
                break
            board.pop()
        else:
            break
    return moves


MOVES: list[str] = []


async def play(one: ws.WebSocket, two: ws.WebSocket, ply: int) -> float:
    """Play move *ply* (whoever is to move) and wait for its broadcast: the round trip (s)."""
    if not MOVES:
        MOVES.extend(_script(400))
    uci = MOVES[ply % len(MOVES)]
    for sock in (one, two):
        t = time.monotonic()
        sock.text(json.dumps({"type": "move", "uci": uci}))
        async with asyncio.timeout(30):
            while True:
                msg = json.loads(await sock)
                if msg.get("type") == "error" and msg.get("error") == "not_your_turn":
                    break
                if msg.get("type") == "move" and len(msg["state"]["uci"]) == ply + 1:
                    return time.monotonic() - t
    raise RuntimeError("nobody could play the move")


async def kill_trials(args: argparse.Namespace, redis_url: str, log_dir: Path) -> dict[str, Any]:
    a, b, c = (start_node(n, redis_url, args, True, log_dir) for n in "abc")
    waits = []
    try:
        for trial in range(args.trials):
            one, two, _, _ = await chess_pair(a, b, f"k{trial}")
            for ply in range(2):
                await play(one, two, ply)
            t0 = time.monotonic()
            b.kill()
            await recv(one, "resumed", timeout=60)
            waits.append(time.monotonic() - t0)
            one.close()
            b = start_node("b", redis_url, args, True, log_dir)
            print(f"  trial {trial + 1}: resumed after {waits[-1]:.2f} s", flush=True)
    finally:
        for p in (a, b, c):
            p.stop()
    waits.sort()
    return {
        "trials": len(waits),
        "p50_s": round(statistics.median(waits), 3),
        "p99_s": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 3),
        "max_s": round(waits[-1], 3),
        "node_ttl": args.ttl,
        "heartbeat": args.heartbeat,
    }


async def ab_run(args: argparse.Namespace, redis_url: str, log_dir: Path, durable: bool) -> dict[str, Any]:
    a, b = start_node("a", redis_url, args, durable, log_dir), start_node("b", redis_url, args, durable, log_dir)
    try:
        one, two, _, _ = await chess_pair(a, b, f"ab{durable}")
        latencies = [await play(one, two, ply) for ply in range(args.moves)]
        one.close()
        two.close()
        latencies.sort()
        # Matchmaking: players join /quick 50 at a time, alternating processes.
        t = time.monotonic()
        done = 0

        async def player(i: int) -> None:
            nonlocal done
            node = a if i % 2 else b
            sock = await ws.connect(node.url("/quick", name=f"q{i}"))
            await recv(sock, "matched")
            done += 1
            await recv(sock, "ended")
            sock.close()

        for start in range(0, args.players, 50):
            await asyncio.gather(*(player(i) for i in range(start, min(args.players, start + 50))))
        rate = done / (time.monotonic() - t)
    finally:
        a.stop()
        b.stop()
    return {
        "durable": durable,
        "move_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "move_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "moves": len(latencies),
        "matched_per_s": round(rate, 1),
    }


async def replay_speed(messages: int) -> dict[str, Any]:
    import rooms

    async def talk(room: rooms.Room) -> Any:
        count = 0
        async for player, msg in room:
            count += 1
            room.broadcast({"n": count, "at": room.clock() > 0, "r": room.random.random() < 2})
            if msg == "end":
                return count

    def site(backend: rooms.MemoryBackend) -> tuple[ws.App, rooms.Lobby]:
        app = ws.App()
        lobby = rooms.Lobby(2, talk, reconnect=30, secret="bench secret, shared by nodes", backend=backend)
        app.route("/talk")(lobby)
        return app, lobby

    first = rooms.MemoryBackend(2, log=True)
    app, lobby = site(first)
    server = await ws.serve(app, "127.0.0.1", 0)
    x = await ws.connect(f"ws://127.0.0.1:{server.port}/talk?name=x")
    await recv(x, "lobby")
    y = await ws.connect(f"ws://127.0.0.1:{server.port}/talk?name=y")
    await recv(y, "matched")
    for i in range(messages):
        x.text(json.dumps(i))
        if i % 100 == 99:
            while True:
                msg = json.loads(await y)
                if msg.get("n") == i + 1:
                    break
    (room,) = lobby.rooms
    from rooms.log import RoomLog

    log = RoomLog()
    for entry in room.log.entries:
        log.record(list(entry))
    server.close()
    await server.wait_closed()
    second = rooms.MemoryBackend(2, log=True)
    app2, lobby2 = site(second)
    server2 = await ws.serve(app2, "127.0.0.1", 0)
    live = asyncio.get_running_loop().create_future()
    t = time.perf_counter()
    lobby2.adopt_room(log, {}, lambda room, diverged: live.done() or live.set_result((time.perf_counter(), diverged)), server2)
    done_at, diverged = await live
    server2.close()
    await server2.wait_closed()
    elapsed = done_at - t
    return {"entries": len(log), "seconds": round(elapsed, 4), "entries_per_s": round(len(log) / elapsed), "diverged": diverged}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        redis, url = start_redis(directory)
        try:
            print("replay speed ...", flush=True)
            replay = await replay_speed(args.replay_messages)
            print(f"  {replay}", flush=True)
            print("log on/off (A/B) ...", flush=True)
            ab = [await ab_run(args, url, directory, durable) for durable in (True, False)]
            for row in ab:
                print(f"  {row}", flush=True)
            print(f"kill -9 -> resumed, {args.trials} trials ...", flush=True)
            kills = await kill_trials(args, url, directory)
            print(f"  {kills}", flush=True)
        finally:
            redis.send_signal(signal.SIGTERM)
            redis.wait(10)
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "kill_to_resumed": kills,
        "replay": replay,
        "log_cost": ab,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--node", help=argparse.SUPPRESS)
    parser.add_argument("--durable", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--ttl", type=float, default=3.0, help="node_ttl of the servers (the lease)")
    parser.add_argument("--heartbeat", type=float, default=1.0)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--players", type=int, default=400)
    parser.add_argument("--replay-messages", type=int, default=3000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "durable.json"))
    args = parser.parse_args()
    if args.serve:
        serve_main(args)
        return
    results = asyncio.run(run(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
