"""``python -m bench.archive``: archive writes per second (SQLite, PostgreSQL) and
the chess move latency with the archive on and off.

Writes: N records handed to ``Archive.record`` at once, timed until ``flush``
returns (spool, batches of 100, one transaction each; half of them rated).
PostgreSQL: ``--postgres URL``, or else a private server started like the
tests' (tests/rooms/postgres_fixtures.py), skipped when PostgreSQL is missing.
Latency: two bots play Scholar's mate over and over in the example server
(a new room each time, so every room ends and is archived); the time from a
move sent to its broadcast back, median and 99th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import rooms
from rooms.archive import GameRecord, PlayerRecord

SCHOLARS_MATE = ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Qxf7#"]


def make_record(i: int) -> GameRecord:
    players = (PlayerRecord(0, f"p{i % 50}", f"p{i % 50}"), PlayerRecord(1, f"q{i % 37}", f"q{i % 37}"))
    rated = {"scores": ((1.0, 0.0),), "system": rooms.Glicko2()} if i % 2 else {}
    now = time.time()
    return GameRecord(f"bench-{i}", "chess", "5+0", players, now - 300, now, result={"pgn": "1. e4 e5 2. Bc4 Nc6 " * 10}, **rated)


async def writes_per_second(url: str, spool: Path, count: int) -> float:
    async with rooms.Archive(url, spool=spool) as archive:
        started = time.perf_counter()
        for i in range(count):
            archive.record(make_record(i))
        await archive.flush(600)
        return count / (time.perf_counter() - started)


async def move_latency(archive_url: str | None, games: int) -> list[float]:
    from examples.server import make_site
    from tests.rooms.archive_helpers import identify
    from tests.examples.bots import chess_pair
    from tests.support import running

    archive = rooms.Archive(archive_url) if archive_url else None
    site = make_site(time_controls={"5+0": (300, 0)}, chess_options={"auth": identify, "rematch_window": 1.0, "bands": rooms.Bands(band=5000)}, archive=archive)
    samples = []
    async with running(site.app) as server:
        for _ in range(games):
            white, black = await chess_pair(server, "5+0")
            bots = {"white": white, "black": black}
            for i, san in enumerate(SCHOLARS_MATE):
                bot = bots["white" if i % 2 == 0 else "black"]
                started = time.perf_counter()
                bot.move(san)
                await bot.recv_type("move")
                samples.append(time.perf_counter() - started)
                await bots["black" if i % 2 == 0 else "white"].recv_type("move")
            white.send({"type": "leave"})
            for bot in (white, black):
                await bot.recv_type("ended")
                await bot.aclose()
    if archive is not None:
        await archive.aclose()
    return samples


def report(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{name}: median {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms over {len(ordered)} moves"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--games", type=int, default=40)
    parser.add_argument("--postgres", help="a postgresql:// URL (default: a private server, when PostgreSQL is installed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sqlite_rate = await writes_per_second(f"sqlite:///{d / 'w.db'}", d / "w.spool", args.records)
        print(f"archive writes, SQLite: {sqlite_rate:,.0f} records/s", flush=True)
        server = None
        url = args.postgres
        if url is None:
            from tests.rooms.postgres_fixtures import INITDB, PostgresServer

            if INITDB is not None:
                server = PostgresServer()
                server.start()
                url = server.url(server.new_database())
        try:
            if url:
                print(f"archive writes, PostgreSQL: {await writes_per_second(url, d / 'p.spool', args.records):,.0f} records/s", flush=True)
            else:
                print("archive writes, PostgreSQL: skipped (no PostgreSQL)")
        finally:
            if server is not None:
                server.remove()
        print(report("chess move latency, no archive", await move_latency(None, args.games)), flush=True)
        on = await move_latency(f"sqlite:///{d / 'c.db'}", args.games)
        print(report("chess move latency, SQLite archive", on), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
