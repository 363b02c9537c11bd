"""What a lobby counts for ``/metrics`` and the admin page: :class:`LobbyStats`.

The counters are plain integers a lobby bumps when something happens (a
match, a reconnect, a room's end), never per message; a scrape reads them,
with what the lobby holds right then (its waiting players by mode, its
rooms), through :func:`collect_lobby`.  Nothing here imports
``prometheus_client``: the families go to a :class:`ws.MetricsBuilder`.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from typing import Any

import attrs

import ws
from ws.closecodes import CloseCode

from .archive import RoomEnd

__all__ = ["LobbyStats", "WAIT_BUCKETS", "OPERATOR_ENDED", "outcome_of", "collect_lobby"]

# The ``reason`` of the result of a room an operator ended (``Lobby.end_room``).
OPERATOR_ENDED = "ended_by_operator"

# Upper bounds (seconds) of the match-wait histogram's buckets.
WAIT_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def outcome_of(end: RoomEnd) -> str:
    """How a room ended, in a few words (the ``outcome`` label of
    ``rooms_rooms_finished_total``): ``error`` (the game raised: 1011),
    ``shutdown`` (1001), ``operator`` (ended from the admin page),
    ``player_left`` (a player left and the game let it end the room),
    ``timeout`` (a turn timed out or a flag fell, handled or not), else ``completed``."""
    if end.code == CloseCode.INTERNAL_ERROR:
        return "error"
    if end.code == CloseCode.GOING_AWAY:
        return "shutdown"
    result = end.result
    reason = result.get("reason") if isinstance(result, dict) else None
    if reason == OPERATOR_ENDED:
        return "operator"
    if reason == "player_left":
        return "player_left"
    if reason in ("timeout", "flag_fell"):
        return "timeout"
    return "completed"


def _mode_label(mode: Hashable) -> str:
    return "" if mode is None else str(mode)


@attrs.define(slots=True, eq=False)
class LobbyStats:
    """A lobby's counters since it was made (``lobby.stats``).

    ``matched`` players and their waits (a histogram over :data:`WAIT_BUCKETS`:
    ``wait_counts`` per bucket, the last above them all, and ``wait_sum``
    seconds), ``reconnects`` (seat tokens accepted), ``finished`` rooms by
    :func:`outcome_of`, and the ``modes`` seen (their waiting gauges stay, at 0,
    once a mode has been seen).
    """

    matched: int = 0
    wait_counts: list[int] = attrs.field(factory=lambda: [0] * (len(WAIT_BUCKETS) + 1))
    wait_sum: float = 0.0
    reconnects: int = 0
    finished: dict[str, int] = attrs.field(factory=dict)
    modes: set[str] = attrs.field(factory=set)

    def match_waited(self, seconds: float) -> None:
        """A player waited *seconds* for their match."""
        self.matched += 1
        self.wait_counts[bisect.bisect_left(WAIT_BUCKETS, seconds)] += 1
        self.wait_sum += seconds

    def reconnected(self) -> None:
        """A player took their seat back with a seat token."""
        self.reconnects += 1

    def room_ended(self, end: RoomEnd) -> None:
        """A room ended (the lobby's end callback)."""
        outcome = outcome_of(end)
        self.finished[outcome] = self.finished.get(outcome, 0) + 1

    def saw_mode(self, mode: Hashable) -> None:
        """A player joined under *mode*."""
        self.modes.add(_mode_label(mode))


def collect_lobby(lobby: Any, builder: ws.MetricsBuilder) -> None:
    """Add *lobby*'s metrics to a scrape: its waiting players by mode, rooms,
    players and spectators in them, finished rooms by outcome, match waits,
    reconnects; then its backend's (once per backend, see ``Backend.collect_metrics``)."""
    name = lobby.name
    stats: LobbyStats = lobby.stats
    waiting = {mode: 0 for mode in stats.modes}
    for ticket in lobby.backend.waiting_tickets(lobby):
        mode = _mode_label(getattr(ticket.key, "mode", None))
        waiting[mode] = waiting.get(mode, 0) + 1
    family = builder.gauge("rooms_waiting_players", "Players waiting for a match on this process, by lobby and mode.", ("lobby", "mode"))
    for mode, count in sorted(waiting.items()):
        family.add((name, mode), count)
    rooms = lobby.rooms
    builder.gauge("rooms_active_rooms", "Rooms running on this process.", ("lobby",)).add((name,), len(rooms))
    players = sum(1 for room in rooms for player in room.players if player.connected)
    builder.gauge("rooms_connected_players", "Players connected to the running rooms of this process.", ("lobby",)).add((name,), players)
    spectators = sum(len(room.spectators) for room in rooms)
    builder.gauge("rooms_spectators", "Spectators watching the running rooms of this process.", ("lobby",)).add((name,), spectators)
    finished = builder.counter("rooms_rooms_finished_total", "Rooms ended on this process, by outcome.", ("lobby", "outcome"))
    finished.add((name, "completed"), 0)
    for outcome, count in sorted(stats.finished.items()):
        finished.add((name, outcome), count)
    waits = builder.histogram("rooms_match_wait_seconds", "Seconds players waited for a match.", ("lobby",), WAIT_BUCKETS)
    waits.add_histogram((name,), stats.wait_counts, stats.wait_sum)
    builder.counter("rooms_reconnects_total", "Players who took their seat back with a seat token.", ("lobby",)).add((name,), stats.reconnects)
    backend = lobby.backend
    if builder.once(backend):
        backend.collect_metrics(builder)
