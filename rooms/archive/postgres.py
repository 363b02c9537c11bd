"""The PostgreSQL store, for a cluster: ``asyncpg``.

Why asyncpg rather than SQLAlchemy's async core: SQLAlchemy's async
PostgreSQL dialect is itself built on asyncpg, so asyncpg is one fewer layer
and one dependency instead of two, and it is the better kept of the two for
this job: a project of its own (MagicStack), released for each new Python
and PostgreSQL version, with nothing in it we do not use.  The archive needs
a dozen fixed statements, not an ORM or a query builder.

Several processes may share one database: migrations run under an advisory
lock, and the ratings of a player are updated under an advisory lock per
(lobby, mode, player), taken in sorted order, so two processes never rate the
same player from the same starting point.  A deadlock or a lost connection is
:class:`~rooms.ArchiveUnavailable`: the archive retries the whole batch,
which is idempotent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..exceptions import ArchiveError, ArchiveUnavailable, SchemaError
from .records import GameRecord, PlayerRating
from .schema import SCHEMA_VERSION, VERSION_TABLE, statements
from .store import GAME_COLUMNS, INSERT_GAME, PLAYER_COLUMNS, RATING_COLUMNS, Store, game_args, game_from_rows, games_query, rate, rating_from_row, redact

__all__ = ["PostgresStore"]

_T = TypeVar("_T")

_MIGRATION_LOCK = 0x726F6F6D73  # "rooms": one migration at a time across processes
_RATING_COLUMNS_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in RATING_COLUMNS.split(", ")[3:])


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ArchiveError("a postgresql:// archive needs asyncpg: pip install 'wsrooms[postgres]'") from exc
    return asyncpg


class PostgresStore(Store):
    """An archive in the PostgreSQL database of *dsn* (a ``postgresql://`` URL)."""

    dialect = "postgresql"

    def __init__(self, dsn: str, *, timeout: float = 5.0, max_connections: int = 4) -> None:
        self.dsn = dsn
        self.url = redact(dsn)
        self.timeout = timeout
        self.max_connections = max_connections
        self._pool: Any = None
        self._connecting: asyncio.Lock | None = None

    def _error(self, exc: BaseException) -> ArchiveError:
        asyncpg = _asyncpg()
        errors = asyncpg.exceptions
        refused = (errors.InvalidPasswordError, errors.InvalidAuthorizationSpecificationError, errors.InvalidCatalogNameError)
        if isinstance(exc, refused):
            return ArchiveError(f"PostgreSQL archive {self.url} refuses this connection: {exc}")
        transient = (
            OSError,
            asyncio.TimeoutError,
            errors.PostgresConnectionError,
            errors.ConnectionDoesNotExistError,
            errors.InterfaceError,
            errors.CannotConnectNowError,
            errors.TooManyConnectionsError,
            errors.AdminShutdownError,
            errors.DeadlockDetectedError,
            errors.SerializationError,
            errors.QueryCanceledError,
        )
        if isinstance(exc, transient):
            return ArchiveUnavailable(f"PostgreSQL archive {self.url} unavailable: {type(exc).__name__}: {exc} (the records wait and are retried)")
        return ArchiveError(f"PostgreSQL archive {self.url}: {type(exc).__name__}: {exc}")

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._pool is None:
                asyncpg = _asyncpg()
                pool = await asyncpg.create_pool(
                    self.dsn, min_size=0, max_size=self.max_connections, timeout=self.timeout, command_timeout=self.timeout * 2
                )
                try:
                    async with pool.acquire(timeout=self.timeout) as conn:
                        await self._migrate(conn)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(VERSION_TABLE)
            version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM rooms_schema")
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"PostgreSQL archive {self.url} has schema version {version}, newer than this library's {SCHEMA_VERSION}: "
                    "it was written by a newer release; upgrade this one (nothing was written)"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for sql in statements(step, "postgresql"):
                    await conn.execute(sql)
                await conn.execute("INSERT INTO rooms_schema (version, applied_at) VALUES ($1, $2)", step, time.time())

    async def _run(self, fn: Callable[[Any], Awaitable[_T]]) -> _T:
        """``fn(conn)`` on a pooled connection, errors mapped to the archive's."""
        try:
            pool = await self._get_pool()
            async with pool.acquire(timeout=self.timeout) as conn:
                return await fn(conn)
        except ArchiveError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    # ------------------------------------------------------------------ the Store interface

    async def connect(self) -> None:
        await self._run(lambda conn: asyncio.sleep(0))

    async def write(self, games: Sequence[GameRecord]) -> list[PlayerRating]:
        async def write(conn: Any) -> list[PlayerRating]:
            changed: list[PlayerRating] = []
            async with conn.transaction():
                keys = sorted({f"{g.lobby}\n{g.mode}\n{pid}" for g in games if g.rated for pid in g.player_ids()})
                for key in keys:
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
                for game in games:
                    if await conn.fetchval("SELECT 1 FROM rooms_games WHERE room_id = $1", game.room_id):
                        continue  # written before (a retry after a lost answer, or a spool replay)
                    players: tuple[Any, ...] = game.players
                    ratings: tuple[PlayerRating, ...] = ()
                    if game.rated:
                        before = {}
                        for pid in game.player_ids():
                            row = await conn.fetchrow(
                                f"SELECT {RATING_COLUMNS} FROM rooms_ratings WHERE lobby = $1 AND mode = $2 AND player = $3", game.lobby, game.mode, pid
                            )
                            before[pid or ""] = None if row is None else rating_from_row(tuple(row))
                        rated = rate(game, before)
                        players, ratings = rated.players, rated.ratings
                    seq = await conn.fetchval(
                        INSERT_GAME.format(", ".join(f"${i}" for i in range(1, 13))) + " ON CONFLICT (room_id) DO NOTHING RETURNING seq",
                        *game_args(game),
                    )
                    if seq is None:
                        continue  # another process stored it just now
                    await conn.executemany(
                        f"INSERT INTO rooms_game_players ({PLAYER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        [(game.room_id, p.seat, p.id, p.name, p.score, p.rating_before, p.deviation_before, p.rating_after, p.deviation_after) for p in players],
                    )
                    for r in ratings:
                        await conn.execute(
                            f"INSERT INTO rooms_ratings ({RATING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                            f"ON CONFLICT (lobby, mode, player) DO UPDATE SET {_RATING_COLUMNS_SET}",
                            r.lobby, r.mode, r.player, r.name, r.rating, r.deviation, r.volatility, r.games, r.wins, r.draws, r.losses, r.updated_at,
                        )
                    changed.extend(ratings)
            return changed

        return await self._run(write)

    async def games(self, *, player: str | None, lobby: str | None, mode: str | None, limit: int, before: float | None) -> list[GameRecord]:
        sql, args = games_query(lambda n: f"${n}", player=player, lobby=lobby, mode=mode, limit=limit, before=before)

        async def query(conn: Any) -> list[GameRecord]:
            return await _with_players(conn, await conn.fetch(sql, *args))

        return await self._run(query)

    async def game(self, room_id: str) -> GameRecord | None:
        async def query(conn: Any) -> GameRecord | None:
            rows = await conn.fetch(f"SELECT {GAME_COLUMNS} FROM rooms_games WHERE room_id = $1", room_id)
            found = await _with_players(conn, rows)
            return found[0] if found else None

        return await self._run(query)

    async def rating(self, lobby: str, mode: str, player: str) -> PlayerRating | None:
        async def query(conn: Any) -> PlayerRating | None:
            row = await conn.fetchrow(f"SELECT {RATING_COLUMNS} FROM rooms_ratings WHERE lobby = $1 AND mode = $2 AND player = $3", lobby, mode, player)
            return None if row is None else rating_from_row(tuple(row))

        return await self._run(query)

    async def leaderboard(self, lobby: str, mode: str, *, limit: int, min_games: int) -> list[PlayerRating]:
        async def query(conn: Any) -> list[PlayerRating]:
            rows = await conn.fetch(
                f"SELECT {RATING_COLUMNS} FROM rooms_ratings WHERE lobby = $1 AND mode = $2 AND games >= $3 ORDER BY rating DESC, player LIMIT $4",
                lobby, mode, min_games, limit,
            )
            return [rating_from_row(tuple(r)) for r in rows]

        return await self._run(query)

    async def schema_version(self) -> int:
        return int(await self._run(lambda conn: conn.fetchval("SELECT coalesce(max(version), 0) FROM rooms_schema")))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except (TimeoutError, OSError):
                pool.terminate()


async def _with_players(conn: Any, rows: list[Any]) -> list[GameRecord]:
    if not rows:
        return []
    ids = [row["room_id"] for row in rows]
    seats: dict[str, list[Any]] = {room_id: [] for room_id in ids}
    for seat in await conn.fetch(f"SELECT {PLAYER_COLUMNS} FROM rooms_game_players WHERE room_id = ANY($1::text[])", ids):
        seats[seat["room_id"]].append(tuple(seat))
    return [game_from_rows(tuple(row), seats[row["room_id"]]) for row in rows]
