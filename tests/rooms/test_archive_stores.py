"""The archive's contract, on both stores: a real SQLite file and a real PostgreSQL
server (tests.rooms.postgres_fixtures); then PostgreSQL's own faults: down at
start, down mid-run, a refused login, a schema from a newer version, and the
migration from version 1."""

from __future__ import annotations

import asyncio
import time

import pytest

import rooms
from rooms.archive import SCHEMA_VERSION, Archive
from rooms.archive.schema import VERSION_TABLE, statements
from tests.rooms.archive_helpers import game_app, record
from tests.rooms.helpers import seat
from tests.rooms.postgres_fixtures import PostgresServer, postgres_server, postgres_url  # noqa: F401
from tests.support import close_all, eventually, running, scaled

GLICKO = rooms.Glicko2()


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'games.db'}"
    return request.getfixturevalue("postgres_url")


async def test_round_trip_queries_and_once_per_room(archive_url, tmp_path) -> None:
    now = time.time()
    async with Archive(archive_url, spool=tmp_path / "spool") as archive:
        for i in range(5):
            archive.record(record(f"g{i}", lobby="chess", mode="5+0", players=("ann", "bob") if i % 2 else ("bob", "cy"), ended_at=now + i,
                                  record={"moves": ["e4"]}, log=[{"seat": 0, "msg": i}]))
        archive.record(record("g0"))
        await archive.flush(scaled(10))
        archive.record(record("g1"))  # already stored: skipped
        await archive.flush(scaled(10))
        assert [g.room_id for g in await archive.games()] == ["g4", "g3", "g2", "g1", "g0"]
        assert [g.room_id for g in await archive.games(player="ann", lobby="chess", mode="5+0")] == ["g3", "g1"]
        assert [g.room_id for g in await archive.games(limit=2, before=now + 3)] == ["g2", "g1"]
        g3 = await archive.game("g3")
        assert g3.record == {"moves": ["e4"]} and g3.log == [{"seat": 0, "msg": 3}] and g3.result == {"winner": 0}
        assert [(p.seat, p.id) for p in g3.players] == [(0, "ann"), (1, "bob")] and g3.ended_at == pytest.approx(now + 3)
        assert await archive.game("nope") is None
        assert archive.written == 6 and len({g.seq for g in await archive.games()}) == 5


async def test_ratings_follow_glicko2_and_the_leaderboard(archive_url, tmp_path) -> None:
    async with Archive(archive_url, spool=tmp_path / "spool") as archive:
        archive.record(record("r1", lobby="chess", mode="5+0", scores=((1.0, 0.0),), system=GLICKO))
        archive.record(record("r2", lobby="chess", mode="5+0", players=("ann", "cy"), scores=((0.5, 0.5), (1.0, 0.0)), system=GLICKO))
        archive.record(record("r3", lobby="chess", mode="3+2", scores=((0.0, 1.0),), system=GLICKO))  # another mode
        archive.record(record("r4", lobby="chess", mode="5+0", players=("ann", "anon")))  # no scores: unrated
        await archive.flush(scaled(10))
        first = rooms.ratings.update(GLICKO.new(), [rooms.ratings.Game(GLICKO.new(), 1.0)])
        ann = await archive.rating("chess", "5+0", "ann")
        bob_loses = rooms.ratings.update(GLICKO.new(), [rooms.ratings.Game(GLICKO.new(), 0.0)])
        cy = rooms.ratings.update(GLICKO.new(), [rooms.ratings.Game(first, 0.5), rooms.ratings.Game(first, 0.0)])
        expect_ann = rooms.ratings.update(first, [rooms.ratings.Game(GLICKO.new(), 0.5), rooms.ratings.Game(GLICKO.new(), 1.0)])
        assert ann.rating == pytest.approx(expect_ann.rating) and ann.deviation == pytest.approx(expect_ann.deviation)
        assert (ann.games, ann.wins, ann.draws, ann.losses) == (3, 2, 1, 0)
        r2 = await archive.game("r2")
        assert r2.players[0].rating_before == pytest.approx(first.rating) and r2.players[0].score == 1.5
        assert r2.players[1].rating_after == pytest.approx(cy.rating) and r2.players[1].deviation_after == pytest.approx(cy.deviation)
        board = await archive.leaderboard("chess", "5+0")
        assert [r.player for r in board] == ["ann", "bob", "cy"] or [r.player for r in board] == ["ann", "cy", "bob"]
        assert {r.player: r.rating for r in board}["bob"] == pytest.approx(bob_loses.rating)
        assert [r.player for r in await archive.leaderboard("chess", "3+2")] == ["bob", "ann"]
        assert await archive.leaderboard("chess", "5+0", min_games=3) == [ann]
        assert await archive.rating("chess", "5+0", "anon") is None and (await archive.game("r4")).players[0].rating_after is None


async def test_a_lobby_on_either_store(archive_url, tmp_path) -> None:
    app, lobby = game_app(archive=Archive(archive_url, spool=tmp_path / "spool"), ratings=True, bands=rooms.Bands(band=2000))
    async with running(app) as server:
        for n in range(3):
            a, b = await seat(server, ["ann", "bob"])
            a.send("win")
            assert (await b.recv_type("ended"))["result"]["winner"] == 0
            await close_all([a, b])
    await lobby.archive.flush(scaled(10))
    assert len(await lobby.archive.games(player="ann")) == 3
    board = await lobby.archive.leaderboard(lobby.name, None)
    assert [(r.player, r.games, r.wins) for r in board] == [("ann", 3, 3), ("bob", 3, 0)]
    await lobby.archive.aclose()


# ---------------------------------------------------------------------- PostgreSQL's faults


async def test_postgres_down_at_start_then_up(postgres_server: PostgresServer, postgres_url: str, tmp_path) -> None:
    postgres_server.stop()
    try:
        archive = Archive(postgres_url, spool=tmp_path / "spool", timeout=scaled(1), retry=0.05, max_retry=0.2)
        with pytest.raises(rooms.ArchiveUnavailable, match="unavailable"):
            await archive.open()
        app, lobby = game_app(archive=archive)
        async with running(app) as server:
            a, b = await seat(server, ["ann", "bob"])
            a.send("win")
            assert (await b.recv_type("ended"))["result"]["winner"] == 0  # the game is not held up
            await close_all([a, b])
        await eventually(lambda: archive.failures > 0, scaled(10))
        assert archive.pending == 1
        with pytest.raises(rooms.ArchiveUnavailable):
            await archive.games()
    finally:
        postgres_server.start()
    await archive.flush(scaled(20))
    assert [g.players[1].name for g in await archive.games()] == ["bob"]
    await archive.aclose()


async def test_postgres_down_mid_run(postgres_server: PostgresServer, postgres_url: str, tmp_path) -> None:
    archive = Archive(postgres_url, spool=tmp_path / "spool", timeout=scaled(1), retry=0.05, max_retry=0.2)
    await archive.open()
    archive.record(record("before"))
    await archive.flush(scaled(10))
    postgres_server.stop()
    try:
        for i in range(5):
            archive.record(record(f"during{i}"))
        await eventually(lambda: archive.failures > 0, scaled(10))
        assert archive.pending == 5
    finally:
        postgres_server.start()
    await archive.flush(scaled(20))
    assert sorted(g.room_id for g in await archive.games()) == ["before"] + [f"during{i}" for i in range(5)]
    await archive.aclose()


async def test_postgres_refusals_are_clear(postgres_server: PostgresServer, tmp_path) -> None:
    missing = postgres_server.url("no_such_database")
    with pytest.raises(rooms.ArchiveError, match="refuses this connection") as info:
        await Archive(missing, spool=tmp_path / "a").open()
    assert not isinstance(info.value, rooms.ArchiveUnavailable)
    database = postgres_server.new_database()
    postgres_server.sql(VERSION_TABLE, database)
    postgres_server.sql(f"INSERT INTO rooms_schema VALUES ({SCHEMA_VERSION + 1}, 0)", database)
    with pytest.raises(rooms.SchemaError, match="newer than this library's"):
        await Archive(postgres_server.url(database), spool=tmp_path / "b").open()
    assert postgres_server.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'rooms_games'", database).strip() == "0"


async def test_postgres_migration_from_version_1(postgres_server: PostgresServer, tmp_path) -> None:
    database = postgres_server.new_database()
    postgres_server.sql(VERSION_TABLE, database)
    for sql in statements(1, "postgresql"):
        postgres_server.sql(sql, database)
    postgres_server.sql("INSERT INTO rooms_schema VALUES (1, 0)", database)
    postgres_server.sql(
        "INSERT INTO rooms_games (room_id, lobby, mode, started_at, ended_at, end_code, end_reason, result, record) "
        "VALUES ('old', 'chess', '', 1, 2, 1000, 'game over', '\"draw\"', 'null')",
        database,
    )
    postgres_server.sql("INSERT INTO rooms_game_players VALUES ('old', 0, 'ann', 'ann'), ('old', 1, 'bob', 'bob')", database)
    async with Archive(postgres_server.url(database), spool=tmp_path / "s") as archive:
        assert await archive.store.schema_version() == SCHEMA_VERSION
        assert (await archive.game("old")).result == "draw"
        archive.record(record("new", scores=((0.0, 1.0),), system=GLICKO))
        await archive.flush(scaled(10))
        assert (await archive.rating("game", "", "bob")).wins == 1
    assert postgres_server.sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM rooms_schema", database).strip() == "1,2"


async def test_two_processes_migrate_and_rate_together(postgres_url: str, tmp_path) -> None:
    """Two archives (as two processes would) open one new database at once and rate
    the same player concurrently: the schema is made once, no update is lost."""
    one = Archive(postgres_url, spool=tmp_path / "one")
    two = Archive(postgres_url, spool=tmp_path / "two")
    await asyncio.gather(one.open(), two.open())
    for i in range(20):
        (one if i % 2 else two).record(record(f"m{i}", players=("ann", f"opponent{i}"), scores=((1.0, 0.0),), system=GLICKO))
    await asyncio.gather(one.flush(scaled(20)), two.flush(scaled(20)))
    ann = await one.rating("game", "", "ann")
    assert ann.games == 20 == ann.wins
    games = sorted(await one.games(player="ann", limit=100), key=lambda g: g.seq)
    for earlier, later in zip(games, games[1:]):
        assert later.players[0].rating_before == pytest.approx(earlier.players[0].rating_after)  # a chain, nothing lost
    await one.aclose()
    await two.aclose()
