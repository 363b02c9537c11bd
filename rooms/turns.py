"""Turn helpers: per-player clocks (chess clocks) and turn order."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ws.closecodes import CloseCode

from . import wire
from .exceptions import PlayerLeft, TurnTimeout

__all__ = ["Clock", "TurnOrder", "take_turn"]

T = TypeVar("T")


class Clock:
    """A player's clock: *initial* seconds, plus *increment* after each move.

    Server-authoritative: it runs on *now* (``time.monotonic`` unless given; a
    clock passed to ``Room.turn`` runs on the room's clock) between ``start``
    and ``stop``.  ``remaining`` is live while running; ``flagged`` is set when
    it ran out.
    """

    __slots__ = ("initial", "increment", "_left", "_started", "flagged", "_now", "_bound")

    def __init__(self, initial: float, increment: float = 0.0, *, now: Callable[[], float] | None = None) -> None:
        if initial <= 0 or increment < 0:
            raise ValueError("a clock needs initial > 0 and increment >= 0")
        self.initial = float(initial)
        self.increment = float(increment)
        self._left = float(initial)
        self._started: float | None = None
        self.flagged = False
        self._now: Callable[[], float] = now or time.monotonic
        self._bound = now is not None

    def bind(self, now: Callable[[], float]) -> None:
        """Run on *now* from here on, unless the clock was given its own or is running."""
        if not self._bound and self._started is None:
            self._now = now

    @property
    def running(self) -> bool:
        return self._started is not None

    @property
    def remaining(self) -> float:
        """Seconds left (never negative)."""
        left = self._left
        if self._started is not None:
            left -= self._now() - self._started
        return max(0.0, left)

    def start(self) -> None:
        if self._started is None:
            self._started = self._now()

    def stop(self, *, increment: bool = True) -> float:
        """Stop the clock; add the increment after a move.  Returns the time left."""
        if self._started is not None:
            self._left = self.remaining
            self._started = None
            if self._left <= 0:
                self.flagged = True
            elif increment:
                self._left += self.increment
        return self._left

    def to_json(self) -> dict[str, float | bool]:
        return {"remaining": round(self.remaining, 3), "running": self.running, "increment": self.increment}


class TurnOrder(Generic[T]):
    """Whose turn it is, cycling through *players* (``next()`` moves on)."""

    __slots__ = ("players", "index")

    def __init__(self, players: Sequence[T], start: int = 0) -> None:
        if not players:
            raise ValueError("TurnOrder needs players")
        self.players = list(players)
        self.index = start % len(self.players)

    @property
    def current(self) -> T:
        return self.players[self.index]

    def next(self) -> T:
        self.index = (self.index + 1) % len(self.players)
        return self.current

    def remove(self, player: T) -> None:
        """Take *player* out of the order (e.g. they left); the turn stays sensible."""
        i = self.players.index(player)
        self.players.pop(i)
        if i < self.index or self.index >= len(self.players):
            self.index = (self.index - 1) % max(1, len(self.players)) if i < self.index else 0


async def take_turn(
    room: Any,
    player: Any,
    *,
    timeout: float | None = None,
    clock: Clock | None = None,
    validate: Callable[[Any], str | None] | None = None,
) -> Any:
    """``Room.turn``: wait for *player*'s move in *room*, on the room's clock."""
    if player.gone:
        raise PlayerLeft(player, code=CloseCode.ABNORMAL_CLOSURE, reason="player has left", socket=player.last_sock)
    if clock is not None:
        clock.bind(room.clock)
        clock.start()
    start = room.clock() if timeout is not None else 0.0
    moved = False
    try:
        while True:
            limit = None
            if timeout is not None:
                limit = max(0.0, timeout - (room.clock() - start))
            if clock is not None:
                limit = clock.remaining if limit is None else min(limit, clock.remaining)
            who, message = await room.receive(timeout=limit)
            if who is not player:
                who.send(wire.error("not_your_turn", f"it is {player.name}'s turn"))
                continue
            problem = validate(message) if validate is not None else None
            if problem:
                who.send(wire.error("illegal_move", str(problem)))
                continue
            moved = True
            return message
    except TimeoutError:
        flagged = clock is not None and clock.remaining <= 0
        if clock is not None:
            clock.flagged = flagged
        raise TurnTimeout(player, flagged=flagged) from None
    finally:
        if clock is not None:
            clock.stop(increment=moved)
