"""``rooms``: lobbies, matchmaking, rooms, turns and reconnection on top of ``ws``.

A game is ``async def game(room) -> result``; a :class:`Lobby` gathers n players
(by mode, private code or rating band) and runs it with a :class:`Room`::

    @app.route("/tictactoe")
    @rooms.lobby(2, reconnect=30)
    async def tictactoe(room):
        async for player, move in room:
            ...
"""

from typing import Any

from .admin import mount_admin
from .archive import Archive, GameRecord, PlayerRating, PlayerRecord, RoomEnd
from .backend import Backend
from .codec import decode, encode_data, encode_text
from .exceptions import CLOSE_CODES, ArchiveError, ArchiveUnavailable, DecodeError, PlayerLeft, RoomsError, SchemaError, TurnTimeout
from .lobby import Lobby, lobby
from .matching import Bands, LobbyKey, Matchmaker, Ticket
from .memory import MemoryBackend
from .ratings import Glicko2, Ratings
from .room import Player, Room, RoomEvent, Spectator
from .stats import LobbyStats
from .tokens import SeatToken, TokenSigner
from .turns import Clock, TurnOrder


def __getattr__(name: str) -> Any:
    # The Redis backend (rooms.cluster) needs the ``redis`` extra: imported only when asked for.
    if name in ("RedisBackend", "RemoteSocket"):
        from . import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module 'rooms' has no attribute {name!r}")


__all__ = [
    "Lobby",
    "lobby",
    "Room",
    "Player",
    "Spectator",
    "RoomEvent",
    "RoomEnd",
    "LobbyStats",
    "mount_admin",
    "Clock",
    "TurnOrder",
    "Bands",
    "Matchmaker",
    "Ticket",
    "LobbyKey",
    "Backend",
    "MemoryBackend",
    "RedisBackend",
    "RemoteSocket",
    "Archive",
    "GameRecord",
    "PlayerRecord",
    "PlayerRating",
    "Ratings",
    "Glicko2",
    "TokenSigner",
    "SeatToken",
    "encode_text",
    "encode_data",
    "decode",
    "RoomsError",
    "DecodeError",
    "TurnTimeout",
    "PlayerLeft",
    "ArchiveError",
    "ArchiveUnavailable",
    "SchemaError",
    "CLOSE_CODES",
]
