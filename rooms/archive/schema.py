"""The archive's schema, and its migrations (the same steps on SQLite and PostgreSQL).

The database records which migrations ran in ``rooms_schema`` (one row per
version, with when); its schema version is the highest.  Opening an archive
runs every migration above that version, each in the transaction that records
it, so a crash halfway leaves the previous version intact.  A database whose
version is higher than :data:`SCHEMA_VERSION` was written by a newer release
of this library: :class:`~rooms.archive.SchemaError`, and nothing is written.

Version 1: the games and their players.  Version 2: ratings (a table per
lobby, mode and player; each seat's score and rating before and after; the
rated games of a room).  docs/reference.md ("The archive's schema") shows the
resulting tables.
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "VERSION_TABLE", "statements"]

SCHEMA_VERSION = 2
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS rooms_schema (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"

# {SERIAL} is the dialect's auto-increment primary key.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE rooms_games (
            seq {SERIAL},
            room_id TEXT NOT NULL UNIQUE,
            lobby TEXT NOT NULL,
            mode TEXT NOT NULL,
            code TEXT,
            started_at DOUBLE PRECISION NOT NULL,
            ended_at DOUBLE PRECISION NOT NULL,
            end_code INTEGER NOT NULL,
            end_reason TEXT NOT NULL,
            result TEXT NOT NULL,
            record TEXT NOT NULL,
            log TEXT
        )""",
        "CREATE INDEX rooms_games_ended ON rooms_games (ended_at)",
        "CREATE INDEX rooms_games_lobby ON rooms_games (lobby, ended_at)",
        """CREATE TABLE rooms_game_players (
            room_id TEXT NOT NULL REFERENCES rooms_games (room_id),
            seat INTEGER NOT NULL,
            player TEXT,
            name TEXT NOT NULL,
            PRIMARY KEY (room_id, seat)
        )""",
        "CREATE INDEX rooms_game_players_player ON rooms_game_players (player)",
    ],
    2: [
        """CREATE TABLE rooms_ratings (
            lobby TEXT NOT NULL,
            mode TEXT NOT NULL,
            player TEXT NOT NULL,
            name TEXT NOT NULL,
            rating DOUBLE PRECISION NOT NULL,
            deviation DOUBLE PRECISION NOT NULL,
            volatility DOUBLE PRECISION NOT NULL,
            games INTEGER NOT NULL,
            wins INTEGER NOT NULL,
            draws INTEGER NOT NULL,
            losses INTEGER NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (lobby, mode, player)
        )""",
        "CREATE INDEX rooms_ratings_board ON rooms_ratings (lobby, mode, rating)",
        "ALTER TABLE rooms_games ADD COLUMN scores TEXT",
        "ALTER TABLE rooms_game_players ADD COLUMN score DOUBLE PRECISION",
        "ALTER TABLE rooms_game_players ADD COLUMN rating_before DOUBLE PRECISION",
        "ALTER TABLE rooms_game_players ADD COLUMN deviation_before DOUBLE PRECISION",
        "ALTER TABLE rooms_game_players ADD COLUMN rating_after DOUBLE PRECISION",
        "ALTER TABLE rooms_game_players ADD COLUMN deviation_after DOUBLE PRECISION",
    ],
}

_SERIAL = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "BIGSERIAL PRIMARY KEY"}


def statements(version: int, dialect: str) -> list[str]:
    """The SQL of migration *version* for *dialect* (``"sqlite"`` or ``"postgresql"``)."""
    return [sql.replace("{SERIAL}", _SERIAL[dialect]) for sql in MIGRATIONS[version]]
