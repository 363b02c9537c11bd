"""Turn helpers: per-player clocks (chess clocks) and turn order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["Clock", "TurnOrder"]

T = TypeVar("T")


class Clock:
    """A player's clock: *initial* seconds, plus *increment* after each move.

    Server-authoritative: it runs on ``time.monotonic`` between ``start`` and
    ``stop``.  ``remaining`` is live while running; ``flagged`` is set when it ran out.
    """

    __slots__ = ("initial", "increment", "_left", "_started", "flagged")

    def __init__(self, initial: float, increment: float = 0.0) -> None:
        if initial <= 0 or increment < 0:
            raise ValueError("a clock needs initial > 0 and increment >= 0")
        self.initial = float(initial)
        self.increment = float(increment)
        self._left = float(initial)
        self._started: float | None = None
        self.flagged = False

    @property
    def running(self) -> bool:
        return self._started is not None

    @property
    def remaining(self) -> float:
        """Seconds left (never negative)."""
        left = self._left
        if self._started is not None:
            left -= time.monotonic() - self._started
        return max(0.0, left)

    def start(self) -> None:
        if self._started is None:
            self._started = time.monotonic()

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
