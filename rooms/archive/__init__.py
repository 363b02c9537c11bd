"""``rooms.archive``: finished rooms kept in a database (SQLite or PostgreSQL),
queried by player and lobby, and the ratings computed from them.

``Lobby(..., archive="sqlite:///games.db")`` (or ``"postgresql://..."``) keeps
every room of the lobby when it ends; ``ratings=rooms.Ratings()`` rates its
2-player rooms with Glicko-2 and feeds the ratings to the lobby's bands.  The
parts: :class:`Archive` (the queue, spool and writer, and the queries),
:mod:`.store` (the database interface and :func:`~.store.store_for`, where a
URL is read), :mod:`.sqlite` and :mod:`.postgres` (its two implementations),
:mod:`.schema` (the tables and their migrations), :mod:`.spool` (the local
file every record reaches before its room ends), :mod:`.records` (the values).
"""

from .archive import Archive
from .records import GameRecord, PlayerRating, PlayerRecord, RoomEnd, game_record, player_id
from .schema import SCHEMA_VERSION
from .store import Store
from .urls import store_for

__all__ = [
    "Archive",
    "GameRecord",
    "PlayerRecord",
    "PlayerRating",
    "RoomEnd",
    "Store",
    "SCHEMA_VERSION",
    "game_record",
    "player_id",
    "store_for",
]
