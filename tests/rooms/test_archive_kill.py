"""kill -9 of a server during a burst of game endings: after a restart, every game
whose players saw it end is in the archive exactly once (and rated once).

The server process is tests.rooms.archive_app; the games end together, the test
kills the process (SIGKILL: no goodbye, no flush) as soon as half of them have
told their players, then starts it again on the same archive and spool.  In the
``locked`` run another connection holds the SQLite file locked until the kill, so
every record is in the spool only; in the others the kill lands while the
writer is busy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

import ws
from rooms.archive import Archive
from tests.rooms.postgres_fixtures import postgres_server, postgres_url  # noqa: F401
from tests.support import Bot, eventually, scaled

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 30


async def start_server(archive: str, spool: Path, log: Path) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.rooms.archive_app", "--archive", archive, "--spool", str(spool),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=open(log, "ab"),
    )
    line = await asyncio.wait_for(proc.stdout.readline(), scaled(20))
    if not line.startswith(b"READY "):
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"the server did not start: {log.read_text()[-3000:]}")
    return proc, int(line.split()[1])


class Port:
    def __init__(self, port: int) -> None:
        self.port = port


@pytest.mark.parametrize("kind", ["locked", "sqlite", "postgresql"])
async def test_kill_9_during_a_burst_of_endings(kind, tmp_path, request) -> None:
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'games.db'}"
        async with Archive(url, spool=tmp_path / "setup.spool"):
            pass  # the schema, so that the lock below has a file to hold
    spool = tmp_path / "server.spool"
    log = tmp_path / "server.log"
    holder = None
    if kind == "locked":
        holder = sqlite3.connect(tmp_path / "games.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    proc, port = await start_server(url, spool, log)
    server = Port(port)
    bots: list[tuple[Bot, Bot]] = []
    try:
        for n in range(PAIRS):
            a = await Bot.connect(server, "/game", name=f"a{n}")
            await a.recv_type("lobby")
            b = await Bot.connect(server, "/game", name=f"b{n}")
            await a.recv_type("matched")
            await b.recv_type("matched")
            bots.append((a, b))
        ended: list[str] = []

        async def finish(a: Bot, b: Bot) -> None:
            with contextlib.suppress(ws.Closed, ConnectionError, TimeoutError, OSError):
                msg = await b.recv_type("ended", timeout=scaled(10))
                ended.append(msg["room"])

        waiting = [asyncio.ensure_future(finish(a, b)) for a, b in bots]
        for a, _ in bots:
            a.send("win")
        await eventually(lambda: len(ended) >= PAIRS // 2, scaled(20), interval=0.001)
        os.kill(proc.pid, signal.SIGKILL)
        seen_ended = list(ended)  # every one of these ended before the kill
        await proc.wait()
        await asyncio.gather(*waiting)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for a, b in bots:
            for bot in (a, b):
                bot.sock.abort()
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    assert len(seen_ended) >= PAIRS // 2
    proc, port = await start_server(url, spool, log)
    try:
        async with Archive(url, spool=tmp_path / "reader.spool") as reader:

            async def all_there() -> bool:
                stored = {g.room_id for g in await reader.games(limit=1000)}
                return set(seen_ended) <= stored

            await eventually(all_there, scaled(20), interval=0.1)
            games = await reader.games(limit=1000)
            ids = [g.room_id for g in games]
            assert len(ids) == len(set(ids))  # once each (the room id is the key)
            board = await reader.leaderboard("first_word_wins", None, limit=1000)
            assert sum(r.games for r in board) == 2 * len(games)  # and rated once each
            assert all(r.wins == 1 for r in board if r.player.startswith("a")) and all(r.losses == 1 for r in board if r.player.startswith("b"))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), scaled(10))
