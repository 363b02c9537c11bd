"""The people in a room: seated :class:`Player` s and :class:`Spectator` s, and
the :class:`RoomEvent` s a lobby reports about them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import attrs

import ws
from ws.closecodes import CloseCode

from . import codec

__all__ = ["Player", "Spectator", "RoomEvent", "ReplaySeat", "REPLAY_SEAT"]


@attrs.define(slots=True, eq=False)
class Player:
    """A seated player.  ``seat`` is stable (0 is the first seated); ``sock`` is the
    current connection, ``None`` while the player is away and the seat is held."""

    seat: int
    name: str
    identity: Any
    sock: ws.WebSocket | None = attrs.field(repr=False)
    token: str = attrs.field(default="", repr=False)
    nonce: str = attrs.field(default="", repr=False)
    gone: bool = False
    expired: bool = False  # gone because the grace time ran out
    last_sock: ws.WebSocket | None = attrs.field(default=None, repr=False)  # the connection that went away
    away_since: float | None = None
    where: tuple[str, str] = attrs.field(default=("", ""), repr=False)  # cluster: (process, connection id)
    grace: asyncio.TimerHandle | None = attrs.field(default=None, repr=False)  # the timer holding the seat
    tap: Callable[[str, str | bytes], bool] | None = attrs.field(default=None, repr=False)  # a durable room's output check

    @property
    def connected(self) -> bool:
        return self.sock is not None and not self.sock.closed

    def cancel_grace(self) -> None:
        """Stop the timer holding the seat, if one runs (the player is back, or gone)."""
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None

    def send(self, obj: Any) -> bool:
        """Send *obj* as JSON in a text frame; False if the player is away."""
        return self._send(obj, codec.encode_text)

    def send_data(self, obj: Any) -> bool:
        """Send *obj* as msgpack in a binary frame; False if the player is away."""
        return self._send(obj, codec.encode_data)

    def _send(self, obj: Any, encode: Callable[[Any], str | bytes]) -> bool:
        sock = self.sock
        if sock is None or sock.closed:
            return False
        payload = encode(obj)
        # A durable room's tap logs the game's output (or, replaying, compares and suppresses it).
        if self.tap is None or self.tap(str(self.seat), payload):
            if isinstance(payload, str):
                sock.text(payload)
            else:
                sock.data(payload)
        return True

    def info(self) -> dict[str, Any]:
        """What the wire protocol says about a player."""
        return {"seat": self.seat, "name": self.name, "connected": self.connected}


@attrs.define(slots=True, eq=False)
class Spectator:
    """A connection that watches a room: receives broadcasts, cannot act."""

    sock: ws.WebSocket = attrs.field(repr=False)
    name: str = "spectator"

    def send(self, obj: Any) -> bool:
        if self.sock.closed:
            return False
        self.sock.text(codec.encode_text(obj))
        return True


@attrs.frozen(slots=True)
class RoomEvent:
    """A lifecycle event: ``created``, ``joined``, ``left``, ``returned``, ``ended``."""

    kind: str
    room: Any  # the rooms.Room
    player: Player | None = None
    detail: Any = None


class ReplaySeat:
    """Stands for a present player's connection while a room is replayed: open,
    and nothing written to it reaches anyone."""

    __slots__ = ()
    closed = False
    close_code = None
    close_reason = ""

    def text(self, message: Any) -> None:
        return None

    data = send = text

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        return None


REPLAY_SEAT: Any = ReplaySeat()


