"""A room's input log: everything its game consumes, in the order it happened.

A durable room appends each input to its log *before* the game sees it: the
messages players send (as decoded), departures and returns, turn timeouts,
the clock and wall-time readings the game asks for, and a hash of each
output the game sends.  Replaying the log through the same game function
rebuilds the same state (see :mod:`rooms.replay`); the output hashes tell a
faithful replay from a game that is not deterministic.

An entry is a short list, ``[kind, *fields]`` (it travels as msgpack); its
kinds are :class:`Kind`.  :class:`RoomLog` keeps them in memory (the
:class:`rooms.MemoryBackend` log, optional); the cluster's log
(:mod:`rooms.cluster.log`) also writes them to a Redis stream, fenced by the
room's lease.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

import attrs
import msgpack

__all__ = ["Kind", "RoomLog", "Meta", "SeatMeta", "output_hash", "pack", "unpack", "storable", "INPUTS", "READINGS", "PRESENCE"]


class Kind(str, enum.Enum):
    """What a log entry records (its value is what is stored)."""

    OPEN = "open"  # the room as it was seated: [OPEN, Meta.to_list()]
    MESSAGE = "m"  # a seated player's decoded message: [MESSAGE, seat, message]
    TIMEOUT = "t"  # a receive(timeout=...) ran out: [TIMEOUT]
    CLOCK = "c"  # room.clock() read by the game: [CLOCK, seconds]
    WALL = "w"  # room.now() read by the game: [WALL, epoch seconds]
    OUTPUT = "o"  # the game sent something: [OUTPUT, hash]
    AWAY = "a"  # a player's connection went, the seat is held: [AWAY, seat]
    BACK = "r"  # a player took their seat back: [BACK, seat, edge, conn]
    GONE = "g"  # a player left for good: [GONE, seat, code, reason, expired]
    MARK = "k"  # the room's clock while nothing else happened: [MARK, seconds]
    LIVE = "v"  # a replay ended here: what follows is the adopter's own: [LIVE]


INPUTS = frozenset({Kind.MESSAGE.value, Kind.TIMEOUT.value})
READINGS = frozenset({Kind.CLOCK.value, Kind.WALL.value})
PRESENCE = frozenset({Kind.AWAY.value, Kind.BACK.value, Kind.GONE.value, Kind.MARK.value, Kind.LIVE.value})


def output_hash(target: str, payload: str | bytes) -> bytes:
    """A short hash of one output: *target* (``"*"`` for a broadcast, else a
    seat number) and the encoded frame."""
    h = hashlib.blake2b(digest_size=8)
    h.update(target.encode())
    h.update(b"\x00" if isinstance(payload, str) else b"\x01")
    h.update(payload.encode() if isinstance(payload, str) else payload)
    return h.digest()


def storable(identity: Any) -> Any:
    """*identity* as a log can store it (msgpack): itself, or ``{"name": ...}``."""
    try:
        pack([identity])
        return identity
    except (TypeError, ValueError):
        return {"name": str(identity.get("name") if isinstance(identity, dict) else identity)}


def pack(entry: list[Any]) -> bytes:
    packed: bytes = msgpack.packb(entry, use_bin_type=True)
    return packed


def unpack(data: bytes) -> list[Any]:
    entry: list[Any] = msgpack.unpackb(data, raw=False, strict_map_key=False)
    return entry


@attrs.frozen(slots=True)
class SeatMeta:
    """One seat as it was filled: who, the nonce of its token, and where the
    player was connected (*edge*: a process of the cluster, *conn*: its id there)."""

    seat: int
    name: str
    identity: Any
    nonce: str
    edge: str = ""
    conn: str = ""


@attrs.frozen(slots=True)
class Meta:
    """What a replay needs to rebuild a room before its first input: its id,
    lobby, key (path, mode, code), seats, and the seed of ``room.random``."""

    room_id: str
    lobby: str
    key: tuple[str, Any, str | None]
    seed: int
    seats: tuple[SeatMeta, ...]

    def to_list(self) -> list[Any]:
        seats = [[s.seat, s.name, s.identity, s.nonce, s.edge, s.conn] for s in self.seats]
        return [self.room_id, self.lobby, list(self.key), self.seed, seats]

    @classmethod
    def from_list(cls, data: list[Any]) -> Meta:
        room_id, lobby, key, seed, seats = data
        return cls(room_id, lobby, (key[0], key[1], key[2]), int(seed), tuple(SeatMeta(*s) for s in seats))


class RoomLog:
    """The entries of one room, in order, kept in memory.

    ``record`` appends at once (for what the game may not wait for: readings,
    output hashes, presence); ``await commit(entry)`` appends and returns once
    the entry is durable (an input, before the game sees it).  In memory
    everything is durable when appended; a subclass writes elsewhere by
    overriding :meth:`flush`.
    """

    __slots__ = ("entries", "_flushed")

    def __init__(self) -> None:
        self.entries: list[list[Any]] = []
        self._flushed = 0  # how many entries are durable

    def __len__(self) -> int:
        return len(self.entries)

    def record(self, entry: list[Any]) -> None:
        """Append *entry* now; it becomes durable with the next flush."""
        self.entries.append(entry)
        self.written()

    async def commit(self, entry: list[Any]) -> None:
        """Append *entry* and wait until it (and everything before it) is durable."""
        self.record(entry)
        await self.flush()

    def written(self) -> None:
        """Entries were appended (a subclass schedules a write); in memory they are durable."""
        self._flushed = len(self.entries)

    async def flush(self) -> None:
        """Make every appended entry durable (nothing to do in memory)."""
        self._flushed = len(self.entries)

    @property
    def durable(self) -> int:
        """How many entries are durable."""
        return self._flushed

    async def close(self) -> None:
        """The room no longer writes: flush what is left (a subclass may bound the wait)."""
        await self.flush()

    def meta(self) -> Meta | None:
        """The room's :class:`Meta`, from its first entry (``None`` if it has none)."""
        if self.entries and self.entries[0][0] == Kind.OPEN.value:
            return Meta.from_list(self.entries[0][1])
        return None
