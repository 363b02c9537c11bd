"""The archive's records: what is kept of a room that ended, and of a player's rating.

Plain frozen values, the same whichever database holds them.  A record goes
through the local spool file as one JSON line (:func:`to_json` /
:func:`from_json`), so every field is JSON: a game's ``result`` that is not
(a custom object) is stored as its ``repr``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from ..ratings import Glicko2

if TYPE_CHECKING:
    from ..room import Room

__all__ = ["RoomEnd", "game_record", "PlayerRecord", "GameRecord", "PlayerRating", "player_id", "mode_text", "to_json", "from_json", "dumps"]


def player_id(identity: Any) -> str | None:
    """The stable id of a player's identity (what ``auth`` returned): a dict's
    ``"id"``, another value's ``str()``; ``None`` for a dict without ``"id"``
    (the default ``{"name": ...}`` of a lobby without ``auth``), which is kept
    in the archive by name but never rated."""
    if isinstance(identity, dict):
        value = identity.get("id")
        return None if value is None else str(value)
    return None if identity is None else str(identity)


def mode_text(mode: Any) -> str:
    """A lobby mode as the archive stores it: a string as it is, ``None`` as
    ``""``, anything else its ``str()``."""
    if mode is None:
        return ""
    return mode if isinstance(mode, str) else str(mode)


@attrs.frozen(slots=True)
class PlayerRecord:
    """One seat of an archived room: its player's ``id`` (``None``: anonymous)
    and name; for a rated room, the points they ``score``\\ d and their rating
    and deviation before and after it."""

    seat: int
    name: str
    id: str | None = None
    score: float | None = None
    rating_before: float | None = None
    deviation_before: float | None = None
    rating_after: float | None = None
    deviation_after: float | None = None


@attrs.frozen(slots=True)
class GameRecord:
    """A room that ended, as the archive keeps it (the room id is the key).

    ``result`` is what the game returned (``None`` after an error or a
    shutdown: see ``end_code``); ``record`` what the lobby's ``record`` hook
    added (a chess game's moves and clocks); ``log`` the room's input log when
    it keeps one (durable rooms), else ``None``.  ``scores`` are the games a
    rated room played (per-seat points, see :mod:`rooms.ratings`; ``None`` for
    an unrated room) and ``system`` the Glicko-2 constants to rate them with
    (``None``: the defaults; not stored, so ``None`` in a record read back).  ``seq`` is the order the database stored it in (``None``
    before).
    """

    room_id: str
    lobby: str
    mode: str
    players: tuple[PlayerRecord, ...]
    started_at: float
    ended_at: float
    result: Any = None
    end_code: int = 1000
    end_reason: str = "game over"
    code: str | None = None
    record: Any = None
    log: list[Any] | None = None
    scores: tuple[tuple[float, ...], ...] | None = None
    system: Glicko2 | None = None
    seq: int | None = None

    @property
    def rated(self) -> bool:
        """Whether this room changes ratings: two identified players and scores."""
        ids = {p.id for p in self.players}
        return bool(self.scores) and len(self.players) == 2 and len(ids) == 2 and None not in ids

    def player_ids(self) -> list[str | None]:
        return [p.id for p in self.players]


@attrs.frozen(slots=True)
class PlayerRating:
    """A player's rating in one lobby and mode, as stored: the Glicko-2 value,
    how many rated games (and of them wins, draws and losses), the name they
    last played under, and when it last changed (``time.time()``)."""

    lobby: str
    mode: str
    player: str
    rating: float
    deviation: float
    volatility: float
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    name: str = ""
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(slots=True)
class RoomEnd:
    """How a room of a lobby ended: what ``Lobby.add_end_callback`` callbacks get.

    ``result`` is the room's result (``None`` after an error or a shutdown),
    ``code`` and ``reason`` the close its sockets get (1000 ``game over``, 1011,
    1001), ``ended_at`` a ``time.time()``.  ``log`` is the room's input log when
    it keeps one (durable rooms), else ``None``.
    """

    lobby: str
    room: Room
    result: Any
    code: int = 1000
    reason: str = "game over"
    ended_at: float = 0.0
    log: list[Any] | None = None


def game_record(end: RoomEnd, *, scores: Any = None, system: Glicko2 | None = None, record: Any = None) -> GameRecord:
    """The archive's record of the room that *end* describes; with *scores*
    (per-seat points per game) and *system* when it is rated."""
    room = end.room
    players = tuple(PlayerRecord(p.seat, str(p.name), player_id(p.identity)) for p in room.players)
    rated = tuple(tuple(float(x) for x in s) for s in scores) if scores else None
    return GameRecord(
        room.id,
        end.lobby,
        mode_text(room.mode),
        players,
        room.created_at,
        end.ended_at,
        result=end.result,
        end_code=end.code,
        end_reason=end.reason,
        code=room.code,
        record=record,
        log=end.log,
        scores=rated,
        system=system if rated else None,
    )


def dumps(value: Any) -> str:
    """Compact JSON; what JSON cannot hold becomes its ``repr``."""
    return json.dumps(value, separators=(",", ":"), default=repr)


def to_json(game: GameRecord) -> dict[str, Any]:
    """*game* as a JSON-able dict (its ``system`` as a dict of constants)."""
    data = attrs.asdict(game, recurse=True)
    data["players"] = [attrs.asdict(p) for p in game.players]
    data["system"] = None if game.system is None else attrs.asdict(game.system)
    data["scores"] = None if game.scores is None else [list(s) for s in game.scores]
    return data


def from_json(data: dict[str, Any]) -> GameRecord:
    """The record :func:`to_json` made."""
    data = dict(data)
    data["players"] = tuple(PlayerRecord(**p) for p in data["players"])
    system = data.get("system")
    data["system"] = None if system is None else Glicko2(**system)
    scores = data.get("scores")
    data["scores"] = None if scores is None else tuple(tuple(map(float, s)) for s in scores)
    return GameRecord(**data)
