"""The journal: how a durable room reads and writes its log, live or replaying.

Live, every input the game consumes is committed to the log before the game
sees it, every reading and output is recorded as it happens.  Replaying (a
process adopting a room whose host died), the same calls are answered from
the log instead: inputs and readings are the logged ones, outputs are
suppressed and compared with the logged hashes.  When the log runs out the
journal goes live, in the middle of whatever the game was doing; a difference
on the way is :class:`~rooms.exceptions.GameDiverged`.

Presence entries (a player away, back or gone, clock marks) are applied by the
room as the replay passes them, so ``player.connected`` and ``player.gone``
read the same in the replay as they did live.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .exceptions import GameDiverged
from .log import INPUTS, PRESENCE, Kind, RoomLog, output_hash

__all__ = ["Journal"]

logger = logging.getLogger("rooms")

_MARK, _GONE, _OUTPUT, _LIVE = Kind.MARK.value, Kind.GONE.value, Kind.OUTPUT.value, Kind.LIVE.value


def _describe(entry: list[Any] | None) -> str:
    if entry is None:
        return "the end of the log"
    return f"a {Kind(entry[0]).name.lower()} entry"


class Journal:
    """The log of one room and, when adopting, where its replay stands.

    *replay_from* is the index of the first entry to replay (``None``: a new
    room, live from the start).  *apply(entry)* applies a presence entry to the
    room; *on_live(diverged)* is called once when the replay ends.
    """

    __slots__ = ("log", "replaying", "_pos", "_end", "_apply", "_on_live", "_outputs", "last_clock", "room_id")

    def __init__(
        self,
        log: RoomLog,
        room_id: str,
        *,
        replay_from: int | None = None,
        apply: Callable[[list[Any]], None] = lambda entry: None,
        on_live: Callable[[bool], None] = lambda diverged: None,
    ) -> None:
        self.log = log
        self.room_id = room_id
        self.replaying = replay_from is not None
        self._pos = replay_from or 0
        self._end = len(log.entries)
        self._apply = apply
        self._on_live = on_live
        self._outputs = 0  # outputs seen (for the divergence message)
        self.last_clock = 0.0  # the last room clock reading or mark, replayed or live

    # ------------------------------------------------------------------ replay cursor

    def _peek(self, *, stop_at_gone: bool) -> list[Any] | None:
        """The next entry that is not presence (presence is applied on the way);
        ``None`` once the replay is over (the journal is then live)."""
        entries = self.log.entries
        while self._pos < self._end:
            entry = entries[self._pos]
            if entry[0] not in PRESENCE:
                return entry
            self._pos += 1
            if entry[0] == _LIVE:
                continue
            if entry[0] == _MARK:
                self.last_clock = max(self.last_clock, float(entry[1]))
                continue
            self._apply(entry)
            if stop_at_gone and entry[0] == _GONE:
                return entry
        self.go_live()
        return None

    def go_live(self, diverged: bool = False) -> None:
        """End the replay now (idempotent); the log says where (a LIVE entry)."""
        if self.replaying:
            self.replaying = False
            self.log.record([_LIVE])
            self._on_live(diverged)

    def _diverge(self, what: str) -> GameDiverged:
        logger.error("room %s could not be resumed: game is not deterministic: %s", self.room_id, what)
        self.go_live(diverged=True)
        return GameDiverged(what)

    # ------------------------------------------------------------------ what the room asks

    def next_input(self) -> list[Any] | None:
        """Replaying: the next logged input (or a GONE entry just applied, so the
        room raises it first); ``None`` once live."""
        if not self.replaying:
            return None
        entry = self._peek(stop_at_gone=True)
        if entry is None or entry[0] == _GONE:
            return entry
        if entry[0] not in INPUTS:
            raise self._diverge(f"the game waited for a message where the log has {_describe(entry)}")
        self._pos += 1
        self._settle()
        return entry

    def _settle(self) -> None:
        """Apply the presence entries that follow an input: they happened while
        the game waited for the input to be written, so it saw them on waking."""
        entries = self.log.entries
        while self._pos < self._end and entries[self._pos][0] in PRESENCE:
            entry = entries[self._pos]
            if entry[0] == _LIVE:
                return  # what follows happened when an earlier replay ended, later
            self._pos += 1
            if entry[0] == _MARK:
                self.last_clock = max(self.last_clock, float(entry[1]))
            else:
                self._apply(entry)

    def reading(self, kind: Kind, live: Callable[[], float]) -> float:
        """A clock reading of *kind*: the logged one while replaying, else *live()* recorded."""
        if self.replaying:
            entry = self._peek(stop_at_gone=False)
            if entry is not None:
                if entry[0] != kind.value:
                    raise self._diverge(f"the game read {kind.name.lower()} where the log has {_describe(entry)}")
                self._pos += 1
                value = float(entry[1])
                if kind is Kind.CLOCK:
                    self.last_clock = max(self.last_clock, value)
                return value
        value = live()
        if kind is Kind.CLOCK:
            self.last_clock = max(self.last_clock, value)
        self.log.record([kind.value, value])
        return value

    def output(self, target: str, payload: str | bytes) -> bool:
        """The game sends *payload* to *target*: True to send it (live, its hash
        logged), False while replaying (compared with the log, not sent)."""
        self._outputs += 1
        digest = output_hash(target, payload)
        if self.replaying:
            entry = self._peek(stop_at_gone=False)
            if entry is not None:
                if entry[0] != _OUTPUT or bytes(entry[1]) != digest:
                    shown = payload if isinstance(payload, str) else repr(payload[:200])
                    raise self._diverge(
                        f"output #{self._outputs} (to {target}) differs from the log, which has {_describe(entry)} there: {shown[:2000]}"
                    )
                self._pos += 1
                return False
        self.log.record([_OUTPUT, digest])
        return True

    def mark(self, seconds: float) -> None:
        """Record the room clock while nothing else is logged (bounds what an outage costs)."""
        if not self.replaying:
            self.last_clock = max(self.last_clock, seconds)
            self.log.record([_MARK, seconds])
