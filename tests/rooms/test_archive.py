"""The archive on a real SQLite file: what a lobby records, the queries, the spool,
and every fault of the issue (a corrupt or locked file, a wrong URL, a schema
from a newer version, a crash before the write), each a clear error or the
documented queue-and-retry, never a crashed room."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

import rooms
from rooms.archive import Archive, SCHEMA_VERSION
from rooms.archive.schema import VERSION_TABLE, statements
from tests.rooms.archive_helpers import first_word_wins, game_app, record
from tests.rooms.helpers import seat
from tests.support import Bot, close_all, eventually, running, scaled


@pytest.fixture
def db(tmp_path):
    return tmp_path / "games.db"


def url_of(path) -> str:
    return f"sqlite:///{path}"


async def test_a_lobby_archives_each_room_that_ends(db) -> None:
    app, lobby = game_app(archive=url_of(db))
    async with running(app) as server:
        a, b = await seat(server, ["ann", "bob"])
        room_id = a.matched["room"]
        started = time.time()
        b.send("win")
        for bot in (a, b):
            ended = await bot.recv_type("ended")
            assert ended["result"] == {"winner": 1, "moves": ["bob"]}
        await lobby.archive.flush(scaled(5))
        game = await lobby.archive.game(room_id)
        assert game is not None and game.room_id == room_id and game.lobby == lobby.name == "first_word_wins"
        assert [(p.seat, p.name, p.id) for p in game.players] == [(0, "ann", "ann"), (1, "bob", "bob")]
        assert game.result == {"winner": 1, "moves": ["bob"]} and game.end_code == 1000 and game.end_reason == "game over"
        assert game.started_at <= started <= game.ended_at <= time.time()
        assert game.mode == "" and game.code is None and game.log is None and game.seq == 1
        await close_all([a, b])
    await lobby.archive.aclose()
    # another process (a new Archive on the same file) finds it: it survives a restart
    async with Archive(url_of(db)) as again:
        assert (await again.game(room_id)).result == {"winner": 1, "moves": ["bob"]}
        assert [g.room_id for g in await again.games(player="bob")] == [room_id]


async def test_queries_by_player_lobby_mode_with_pages(db) -> None:
    async with Archive(url_of(db)) as archive:
        now = time.time()
        for i in range(7):
            players = ("ann", "bob") if i % 2 else ("cy", "ann")
            archive.record(record(f"r{i}", lobby="chess" if i < 5 else "chat", mode="5+0" if i % 3 else "3+2", players=players, ended_at=now + i))
        await archive.flush(scaled(5))
        assert [g.room_id for g in await archive.games()] == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
        assert [g.room_id for g in await archive.games(lobby="chess", limit=2)] == ["r4", "r3"]
        page = await archive.games(lobby="chess", limit=2, before=now + 3)
        assert [g.room_id for g in page] == ["r2", "r1"]
        assert [g.room_id for g in await archive.games(player="bob")] == ["r5", "r3", "r1"]
        assert [g.room_id for g in await archive.games(player="cy", mode="3+2")] == ["r6", "r0"]
        assert [g.room_id for g in await archive.games(player="nobody")] == []
        assert await archive.game("missing") is None
        r1 = await archive.game("r1")
        assert r1.mode == "5+0" and [p.name for p in r1.players] == ["ann", "bob"] and r1.started_at == now + 1 - 10


async def test_a_room_id_is_stored_once(db) -> None:
    async with Archive(url_of(db)) as archive:
        archive.record(record("same"))
        archive.record(record("same"))  # queued once
        await archive.flush(scaled(5))
        archive.record(record("same"))  # already in the database: skipped there
        await archive.flush(scaled(5))
        assert [g.room_id for g in await archive.games()] == ["same"]
        assert archive.statistics()["pending"] == 0


async def test_the_spool_brings_back_what_a_crash_left_unwritten(db, tmp_path) -> None:
    spool = tmp_path / "games.db.spool"
    # a process records three rooms while another holds the database locked, then dies
    holder = sqlite3.connect(db, isolation_level=None)
    async with Archive(url_of(db)):
        pass  # the schema exists
    holder.execute("BEGIN EXCLUSIVE")
    first = Archive(url_of(db), timeout=0.05)
    await first.start()
    for i in range(3):
        first.record(record(f"crash{i}"))
    await eventually(lambda: first.failures > 0)
    assert first.pending == 3 and isinstance(first.last_error, rooms.ArchiveUnavailable) and "locked" in str(first.last_error)
    lines = spool.read_text().splitlines()
    assert [json.loads(line)["r"]["room_id"] for line in lines] == ["crash0", "crash1", "crash2"]
    await first.aclose(timeout=0)  # what a kill leaves: the spool, nothing written
    holder.execute("ROLLBACK")
    # ... and one of them had in fact reached the database before the crash
    async with Archive(url_of(db), spool=tmp_path / "other.spool") as other:
        other.record(record("crash1"))
        await other.flush(scaled(5))
    async with Archive(url_of(db)) as restarted:
        await restarted.flush(scaled(5))
        assert sorted(g.room_id for g in await restarted.games()) == ["crash0", "crash1", "crash2"]
        assert restarted.written == 3
    assert spool.read_text() == ""  # emptied once everything in it was written
    holder.close()


async def test_a_locked_file_never_blocks_a_game(db) -> None:
    app, lobby = game_app(archive=rooms.Archive(url_of(db), timeout=0.05, retry=0.05))
    async with Archive(url_of(db)):
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        async with running(app) as server:
            for n in range(3):
                a, b = await seat(server, [f"a{n}", f"b{n}"])
                a.send("win")
                assert (await b.recv_type("ended"))["result"]["winner"] == 0
                await close_all([a, b])
            await eventually(lambda: lobby.archive.failures > 0)
            assert lobby.archive.pending == 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await lobby.archive.flush(scaled(5))
    assert len(await lobby.archive.games()) == 3
    await lobby.archive.aclose()


async def test_a_corrupt_file_is_a_clear_error_and_games_still_end(db) -> None:
    db.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(rooms.ArchiveError, match="is not a SQLite database or is corrupt"):
        await Archive(url_of(db)).open()
    app, lobby = game_app(archive=url_of(db))
    async with running(app) as server:
        a, b = await seat(server, ["ann", "bob"])
        a.send("draw")
        assert (await a.recv_type("ended"))["result"] == {"winner": None}
        await eventually(lambda: lobby.archive.last_error is not None)
        assert "not a SQLite database" in lobby.archive.statistics()["last_error"] and lobby.archive.pending == 1
        await close_all([a, b])
    await lobby.archive.aclose(timeout=0)
    # the record waits in the spool: a good file in its place gets it
    db.unlink()
    async with Archive(url_of(db)) as fixed:
        await fixed.flush(scaled(5))
        assert [g.players[0].name for g in await fixed.games()] == ["ann"]


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "sqlite://games.db", "sqlite:///", "games.txt", "", "postgresql:///nohost", "redis://127.0.0.1/0"],
)
async def test_a_wrong_url_is_refused_at_once(url) -> None:
    with pytest.raises(ValueError, match="sqlite:///|postgresql://|non-empty"):
        Archive(url)
    with pytest.raises(ValueError):
        rooms.Lobby(2, first_word_wins, archive=url)


def test_a_password_never_shows() -> None:
    archive = Archive("postgresql://user:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in repr(archive) and "s3cret" not in archive.url


async def test_a_schema_from_a_newer_version_is_refused(db) -> None:
    conn = sqlite3.connect(db)
    conn.execute(VERSION_TABLE)
    conn.execute("INSERT INTO rooms_schema VALUES (?, ?)", (SCHEMA_VERSION + 5, time.time()))
    conn.commit()
    conn.close()
    archive = Archive(url_of(db), retry=0.05)
    with pytest.raises(rooms.SchemaError, match=f"schema version {SCHEMA_VERSION + 5}, newer than this library's {SCHEMA_VERSION}"):
        await archive.open()
    archive.record(record("kept"))
    await eventually(lambda: archive.failures > 0)
    assert archive.pending == 1  # kept in the spool, never written into a schema it cannot read
    await archive.aclose(timeout=0)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'rooms_games'").fetchall() == []
    conn.close()


async def test_migration_from_version_1(db) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(VERSION_TABLE)
    for sql in statements(1, "sqlite"):
        conn.execute(sql)
    conn.execute("INSERT INTO rooms_schema VALUES (1, ?)", (time.time(),))
    conn.execute(
        "INSERT INTO rooms_games (room_id, lobby, mode, code, started_at, ended_at, end_code, end_reason, result, record, log) "
        "VALUES ('old', 'chess', '5+0', NULL, 1.0, 2.0, 1000, 'game over', '{\"winner\": 0}', 'null', NULL)"
    )
    conn.execute("INSERT INTO rooms_game_players (room_id, seat, player, name) VALUES ('old', 0, 'ann', 'ann'), ('old', 1, 'bob', 'bob')")
    conn.close()
    async with Archive(url_of(db)) as archive:
        assert await archive.store.schema_version() == SCHEMA_VERSION == 2
        old = await archive.game("old")
        assert old.result == {"winner": 0} and old.scores is None and old.players[0].rating_after is None
        archive.record(record("new", lobby="chess", mode="5+0", scores=((1.0, 0.0),), system=rooms.Glicko2()))
        await archive.flush(scaled(5))
        new = await archive.game("new")
        assert new.scores == ((1.0, 0.0),) and new.players[0].rating_after > 1500 > new.players[1].rating_after
        assert (await archive.rating("chess", "5+0", "ann")).games == 1
    conn = sqlite3.connect(db)
    assert [v for (v,) in conn.execute("SELECT version FROM rooms_schema ORDER BY version")] == [1, 2]
    conn.close()


async def test_spool_bounds(tmp_path) -> None:
    db = tmp_path / "games.db"
    async with Archive(url_of(db), max_queue=2) as archive:
        holder = sqlite3.connect(db, isolation_level=None, timeout=0)
        holder.execute("BEGIN EXCLUSIVE")
        archive.store.timeout = 0.05
        for i in range(5):
            archive.record(record(f"q{i}"))
        assert archive.pending == 5  # two in memory, three in the spool only
        holder.execute("ROLLBACK")
        holder.close()
        await archive.flush(scaled(5))
        assert sorted(g.room_id for g in await archive.games()) == [f"q{i}" for i in range(5)]
    async with Archive(url_of(tmp_path / "small.db"), max_spool=600) as small:
        small.record(record("fits"))
        small.record(record("too-much", result={"pgn": "x" * 1000}))
        assert small.dropped == 1
        await small.flush(scaled(5))
        assert [g.room_id for g in await small.games()] == ["fits"]


async def test_two_archives_on_one_spool_path_and_an_orphan_taken_over(tmp_path) -> None:
    db = tmp_path / "games.db"
    async with Archive(url_of(db)):
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    one = Archive(url_of(db), timeout=0.05)
    two = Archive(url_of(db), timeout=0.05)
    await one.start()
    await two.start()
    assert one.spool.path.endswith("games.db.spool") and two.spool.path.endswith("games.db.spool.1")
    one.record(record("from-one"))
    two.record(record("from-two"))
    await two.aclose(timeout=0)  # gone, its record left in games.db.spool.1
    await one.aclose(timeout=0)
    holder.execute("ROLLBACK")
    holder.close()
    async with Archive(url_of(db)) as three:
        assert three.spool.path.endswith("games.db.spool")
        await three.flush(scaled(5))
        assert sorted(g.room_id for g in await three.games()) == ["from-one", "from-two"]
    assert not (tmp_path / "games.db.spool.1").exists()


async def test_end_callbacks_and_what_an_error_records(db) -> None:
    seen = []

    async def broken(room):
        async for _player, message in room:
            if message == "boom":
                raise RuntimeError("a bug in the game")

    app, lobby = game_app(broken, archive=url_of(db))
    lobby.add_end_callback(seen.append)
    lobby.add_end_callback(lambda end: 1 / 0)  # logged, ignored
    async with running(app) as server:
        a, b = await seat(server, ["ann", "bob"])
        a.send("boom")
        assert (await b.closed()).code == 1011
        await close_all([a, b])
    assert [(end.room.id, end.code, end.result) for end in seen] == [(a.matched["room"], 1011, None)]
    await lobby.archive.flush(scaled(5))
    game = await lobby.archive.game(a.matched["room"])
    assert game.end_code == 1011 and game.end_reason == "internal error" and game.result is None
    await lobby.archive.aclose()
