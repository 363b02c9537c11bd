"""The SQLite store: the standard library's ``sqlite3``, on a thread of its own.

Why not ``aiosqlite``: it is this same design (one connection, one thread,
calls handed over with futures) as a dependency; the stdlib module and one
``ThreadPoolExecutor(max_workers=1)`` do it with nothing to install, which
is the point of the default archive.  The event loop never waits on the
file: every call runs on that thread, and ``await`` returns when it is done.

The file is opened in WAL mode (readers do not block the writer) with a busy
timeout; a file another process keeps locked longer than that is
:class:`~rooms.ArchiveUnavailable` (the archive retries), a file that is not
a SQLite database :class:`~rooms.ArchiveError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..exceptions import ArchiveError, ArchiveUnavailable, SchemaError
from .records import GameRecord, PlayerRating
from .schema import SCHEMA_VERSION, VERSION_TABLE, statements
from .store import GAME_COLUMNS, INSERT_GAME, PLAYER_COLUMNS, RATING_COLUMNS, Store, game_args, game_from_rows, games_query, rate, rating_from_row

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_TRANSIENT = ("locked", "busy", "disk i/o error")


class SQLiteStore(Store):
    """An archive in the SQLite file at *path* (created with its directory's
    permission; the directory must exist)."""

    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.url = "sqlite:///" + self.path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ the thread

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rooms-archive-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, fn)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """On the store's thread: open (and migrate) if needed, then *fn*, mapping errors."""
        try:
            if self._conn is None:
                self._conn = self._open()
            return fn(self._conn)
        except sqlite3.Error as exc:
            if self._conn is not None and self._conn.in_transaction:
                try:
                    self._conn.rollback()
                except sqlite3.Error:
                    pass
            raise self._error(exc) from exc

    def _error(self, exc: sqlite3.Error) -> ArchiveError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and any(word in text.lower() for word in _TRANSIENT):
            return ArchiveUnavailable(f"SQLite archive {self.path}: {text} (the records wait and are retried)")
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text.lower():
            return ArchiveError(f"SQLite archive {self.path}: cannot open the file ({text}); does its directory exist and may this process write there?")
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            self._drop_connection()
            return ArchiveError(f"SQLite archive {self.path} is not a SQLite database or is corrupt ({text}); move it away to start a new archive")
        return ArchiveError(f"SQLite archive {self.path}: {text}")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(VERSION_TABLE)
            version = _version(conn)
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"SQLite archive {self.path} has schema version {version}, newer than this library's {SCHEMA_VERSION}: "
                    "it was written by a newer release; upgrade this one (nothing was written)"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for sql in statements(step, "sqlite"):
                    conn.execute(sql)
                conn.execute("INSERT INTO rooms_schema (version, applied_at) VALUES (?, ?)", (step, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ the Store interface

    async def connect(self) -> None:
        await self._call(lambda conn: None)

    async def write(self, games: Sequence[GameRecord]) -> list[PlayerRating]:
        return await self._call(lambda conn: _write(conn, games))

    async def games(self, *, player: str | None, lobby: str | None, mode: str | None, limit: int, before: float | None) -> list[GameRecord]:
        sql, args = games_query(lambda n: "?", player=player, lobby=lobby, mode=mode, limit=limit, before=before)

        def query(conn: sqlite3.Connection) -> list[GameRecord]:
            rows = conn.execute(sql, args).fetchall()
            return _with_players(conn, rows)

        return await self._call(query)

    async def game(self, room_id: str) -> GameRecord | None:
        def query(conn: sqlite3.Connection) -> GameRecord | None:
            rows = conn.execute(f"SELECT {GAME_COLUMNS} FROM rooms_games WHERE room_id = ?", (room_id,)).fetchall()
            found = _with_players(conn, rows)
            return found[0] if found else None

        return await self._call(query)

    async def rating(self, lobby: str, mode: str, player: str) -> PlayerRating | None:
        def query(conn: sqlite3.Connection) -> PlayerRating | None:
            row = conn.execute(
                f"SELECT {RATING_COLUMNS} FROM rooms_ratings WHERE lobby = ? AND mode = ? AND player = ?", (lobby, mode, player)
            ).fetchone()
            return None if row is None else rating_from_row(row)

        return await self._call(query)

    async def leaderboard(self, lobby: str, mode: str, *, limit: int, min_games: int) -> list[PlayerRating]:
        def query(conn: sqlite3.Connection) -> list[PlayerRating]:
            rows = conn.execute(
                f"SELECT {RATING_COLUMNS} FROM rooms_ratings WHERE lobby = ? AND mode = ? AND games >= ? "
                "ORDER BY rating DESC, player LIMIT ?",
                (lobby, mode, min_games, limit),
            ).fetchall()
            return [rating_from_row(r) for r in rows]

        return await self._call(query)

    async def schema_version(self) -> int:
        return await self._call(_version)

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._drop_connection)
            thread.shutdown(wait=False)


def _version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM rooms_schema").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    return int(row[0] or 0)


def _with_players(conn: sqlite3.Connection, rows: list[Any]) -> list[GameRecord]:
    if not rows:
        return []
    ids = [row[1] for row in rows]
    marks = ",".join("?" * len(ids))
    seats: dict[str, list[Any]] = {room_id: [] for room_id in ids}
    for seat in conn.execute(f"SELECT {PLAYER_COLUMNS} FROM rooms_game_players WHERE room_id IN ({marks})", ids):
        seats[seat[0]].append(seat)
    return [game_from_rows(row, seats[row[1]]) for row in rows]


def _write(conn: sqlite3.Connection, games: Sequence[GameRecord]) -> list[PlayerRating]:
    """One transaction: each game not stored yet, its players, and its ratings."""
    changed: list[PlayerRating] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for game in games:
            if conn.execute("SELECT 1 FROM rooms_games WHERE room_id = ?", (game.room_id,)).fetchone():
                continue  # written before (a retry after a lost answer, or a spool replay)
            players = game.players
            if game.rated:
                before = {}
                for pid in game.player_ids():
                    row = conn.execute(
                        f"SELECT {RATING_COLUMNS} FROM rooms_ratings WHERE lobby = ? AND mode = ? AND player = ?", (game.lobby, game.mode, pid)
                    ).fetchone()
                    before[pid or ""] = None if row is None else rating_from_row(row)
                rated = rate(game, before)
                players = rated.players
                for r in rated.ratings:
                    conn.execute(
                        f"INSERT OR REPLACE INTO rooms_ratings ({RATING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (r.lobby, r.mode, r.player, r.name, r.rating, r.deviation, r.volatility, r.games, r.wins, r.draws, r.losses, r.updated_at),
                    )
                changed.extend(rated.ratings)
            conn.execute(INSERT_GAME.format(", ".join("?" * 12)), game_args(game))
            for p in players:
                conn.execute(
                    f"INSERT INTO rooms_game_players ({PLAYER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (game.room_id, p.seat, p.id, p.name, p.score, p.rating_before, p.deviation_before, p.rating_after, p.deviation_after),
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return changed
