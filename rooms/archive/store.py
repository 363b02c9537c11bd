"""The interface of an archive's database, and what its two implementations share.

A :class:`Store` is the database side of an :class:`~rooms.archive.Archive`:
it connects (creating or migrating the schema), writes batches of records
idempotently (a room id already stored is skipped, with its ratings), and
answers queries.  :class:`~rooms.archive.sqlite.SQLiteStore` and
:class:`~rooms.archive.postgres.PostgresStore` implement it; :func:`store_for`
(:mod:`rooms.archive.urls`) picks one from a URL, the one place an archive's URL is read.

Errors: :class:`~rooms.ArchiveUnavailable` when the database cannot be
reached now (the archive retries), :class:`~rooms.ArchiveError` when it
refuses (a corrupt file, a wrong password), :class:`~rooms.SchemaError` for a
schema from a newer version.
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from .. import ratings
from .records import GameRecord, PlayerRating, PlayerRecord, dumps

__all__ = ["GAME_COLUMNS", "PLAYER_COLUMNS", "RATING_COLUMNS", "INSERT_GAME", "Store", "Rated", "redact", "rate", "games_query", "game_args", "game_from_rows", "rating_from_row"]

GAME_COLUMNS = "seq, room_id, lobby, mode, code, started_at, ended_at, end_code, end_reason, result, record, log, scores"
PLAYER_COLUMNS = "room_id, seat, player, name, score, rating_before, deviation_before, rating_after, deviation_after"
RATING_COLUMNS = "lobby, mode, player, name, rating, deviation, volatility, games, wins, draws, losses, updated_at"


class Store(abc.ABC):
    """One database holding an archive: what the SQLite and PostgreSQL stores implement.

    Every method may raise :class:`~rooms.ArchiveUnavailable` or
    :class:`~rooms.ArchiveError`; ``write`` is idempotent, so retrying a batch
    after any failure is safe.
    """

    dialect: str = ""
    url: str = ""  # without a password, for messages

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the database and bring its schema to the current version (idempotent)."""

    @abc.abstractmethod
    async def write(self, games: Sequence[GameRecord]) -> list[PlayerRating]:
        """Store *games* in one transaction, skipping room ids already stored;
        rate each new rated game.  Returns the ratings that changed."""

    @abc.abstractmethod
    async def games(self, *, player: str | None, lobby: str | None, mode: str | None, limit: int, before: float | None) -> list[GameRecord]:
        """Stored games, the last ended first (see ``Archive.games``)."""

    @abc.abstractmethod
    async def game(self, room_id: str) -> GameRecord | None:
        """The stored game *room_id*, or ``None``."""

    @abc.abstractmethod
    async def rating(self, lobby: str, mode: str, player: str) -> PlayerRating | None:
        """*player*'s stored rating in *lobby* and *mode*, or ``None``."""

    @abc.abstractmethod
    async def leaderboard(self, lobby: str, mode: str, *, limit: int, min_games: int) -> list[PlayerRating]:
        """The best rated players of *lobby* and *mode*, best first."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The database's schema version (0: empty)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connections (idempotent)."""


def redact(url: str) -> str:
    """*url* without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment))


# ---------------------------------------------------------------------- shared by both stores


@attrs.frozen(slots=True)
class Rated:
    """What rating one new game gives: its seats with scores and ratings before and
    after, and the two players' new stored ratings."""

    players: tuple[PlayerRecord, ...]
    ratings: tuple[PlayerRating, ...]


def rate(game: GameRecord, before: Mapping[str, PlayerRating | None], now: float | None = None) -> Rated:
    """Rate *game* (``game.rated``) from its players' stored ratings *before*
    (``None``: a newcomer, at the system's initial rating): one Glicko-2 rating
    period for each of the two, over every game of ``game.scores``."""
    system = game.system or ratings.Glicko2()
    now = time.time() if now is None else now
    seats = game.players
    old = []
    for seat in seats:
        stored = before.get(seat.id or "")
        old.append(system.new() if stored is None else ratings.Rating(stored.rating, stored.deviation, stored.volatility))
    scores = game.scores or ()
    players, new = [], []
    for i, seat in enumerate(seats):
        other = old[1 - i]
        mine = [float(s[i]) for s in scores]
        after = ratings.update(old[i], [ratings.Game(other, s) for s in mine], system)
        stored = before.get(seat.id or "")
        wins = sum(1 for s in mine if s > 0.5)
        losses = sum(1 for s in mine if s < 0.5)
        players.append(attrs.evolve(
            seat,
            score=sum(mine),
            rating_before=old[i].rating,
            deviation_before=old[i].deviation,
            rating_after=after.rating,
            deviation_after=after.deviation,
        ))
        new.append(PlayerRating(
            game.lobby,
            game.mode,
            seat.id or "",
            after.rating,
            after.deviation,
            after.volatility,
            games=(stored.games if stored else 0) + len(mine),
            wins=(stored.wins if stored else 0) + wins,
            draws=(stored.draws if stored else 0) + len(mine) - wins - losses,
            losses=(stored.losses if stored else 0) + losses,
            name=seat.name,
            updated_at=now,
        ))
    return Rated(tuple(players), tuple(new))


def games_query(
    placeholder: Any, *, player: str | None, lobby: str | None, mode: str | None, limit: int, before: float | None
) -> tuple[str, list[Any]]:
    """The SQL and arguments of ``Store.games``; ``placeholder(n)`` writes the
    n-th argument's marker (``?`` for SQLite, ``$n`` for PostgreSQL)."""
    where, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        mark: str = placeholder(len(args))
        return mark

    if lobby is not None:
        where.append(f"lobby = {arg(lobby)}")
    if mode is not None:
        where.append(f"mode = {arg(mode)}")
    if before is not None:
        where.append(f"ended_at < {arg(before)}")
    if player is not None:
        where.append(f"room_id IN (SELECT room_id FROM rooms_game_players WHERE player = {arg(player)})")
    sql = f"SELECT {GAME_COLUMNS} FROM rooms_games"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY ended_at DESC, seq DESC LIMIT {arg(limit)}"
    return sql, args


INSERT_GAME = (
    "INSERT INTO rooms_games (room_id, lobby, mode, code, started_at, ended_at, end_code, end_reason, result, record, log, scores) "
    "VALUES ({})"
)


def game_args(game: GameRecord) -> tuple[Any, ...]:
    """The values of ``INSERT_GAME`` for *game* (JSON columns encoded)."""
    scores = None if game.scores is None else dumps([list(s) for s in game.scores])
    log = None if game.log is None else dumps(game.log)
    return (
        game.room_id, game.lobby, game.mode, game.code, game.started_at, game.ended_at, game.end_code, game.end_reason,
        dumps(game.result), dumps(game.record), log, scores,
    )


def _loads(text: Any) -> Any:
    return None if text is None else json.loads(text)


def game_from_rows(row: Sequence[Any], players: Sequence[Sequence[Any]]) -> GameRecord:
    """A record from a ``GAME_COLUMNS`` row and its ``PLAYER_COLUMNS`` rows."""
    seq, room_id, lobby, mode, code, started, ended, end_code, end_reason, result, record, log, scores = row
    seats = tuple(
        PlayerRecord(seat, name, player, score, rb, db, ra, da)
        for _, seat, player, name, score, rb, db, ra, da in sorted(players, key=lambda p: p[1])
    )
    loaded = _loads(scores)
    return GameRecord(
        room_id,
        lobby,
        mode,
        seats,
        started,
        ended,
        result=_loads(result),
        end_code=end_code,
        end_reason=end_reason,
        code=code,
        record=_loads(record),
        log=_loads(log),
        scores=None if loaded is None else tuple(tuple(s) for s in loaded),
        seq=seq,
    )


def rating_from_row(row: Sequence[Any]) -> PlayerRating:
    """A rating from a ``RATING_COLUMNS`` row."""
    lobby, mode, player, name, rating, deviation, volatility, games, wins, draws, losses, updated_at = row
    return PlayerRating(lobby, mode, player, rating, deviation, volatility, games, wins, draws, losses, name, updated_at)
