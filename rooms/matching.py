"""Matchmaking, sans-I/O: tickets wait under a key; groups of n are formed in order.

The in-memory backend drives a :class:`Matchmaker` directly; the Redis backend
implements the same rules in a Lua script.  Rules:

- only tickets with the same key are grouped (game mode, private code, path...);
- first come, first matched: the oldest waiting ticket anchors the next group,
  and the group is filled with the oldest compatible tickets;
- with ratings, two tickets are compatible when their ratings differ by no more
  than the smaller of their two bands plus the larger of their two spreads; a
  ticket's band starts at ``band`` and widens by ``widen_per_second`` while it
  waits, up to ``max_band``; its ``spread`` (0 unless the lobby rates players
  with ``ratings=``, where an uncertain rating gets one) widens every pair it
  is part of.

Without ratings (and for any n with ratings when n == 2) nobody waits while a
group of n compatible tickets exists.  For n > 2 with ratings the greedy fill is
not guaranteed to find every possible group; it never seats anyone twice.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable

import attrs

__all__ = ["LobbyKey", "Ticket", "Bands", "Matchmaker"]


def _joined_at(ticket: Ticket) -> float:
    return ticket.joined_at


@attrs.frozen(slots=True)
class LobbyKey:
    """What a lobby queues a player under: only tickets with equal keys are matched.

    ``path`` is the request path, ``mode`` what the lobby's ``mode(request)``
    returned (``None`` without modes) and ``code`` the private room code
    (``None`` for the public queue).  Frozen and hashable, so it keys dicts.
    """

    path: str
    mode: Hashable = None
    code: str | None = None


@attrs.define(slots=True, eq=False)
class Ticket:
    """One waiting player.  ``payload`` is the backend's own (e.g. the socket)."""

    id: str
    key: Hashable
    joined_at: float
    rating: float | None = None
    payload: object = None
    spread: float = 0.0  # extra band for this ticket's pairs (an uncertain rating)


@attrs.frozen(kw_only=True)
class Bands:
    """How far apart ratings may be, and how that widens while a player waits."""

    band: float = 100.0
    widen_per_second: float = 10.0
    max_band: float | None = 1000.0

    def at(self, waited: float) -> float:
        width = self.band + self.widen_per_second * max(0.0, waited)
        return width if self.max_band is None else min(width, self.max_band)


class Matchmaker:
    """Waiting tickets per key, and the groups of *n* they form."""

    __slots__ = ("n", "bands", "_waiting", "_by_id")

    def __init__(self, n: int, *, bands: Bands | None = None) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.bands = bands
        self._waiting: dict[Hashable, list[Ticket]] = {}
        self._by_id: dict[str, Ticket] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self._by_id

    def waiting(self, key: Hashable) -> list[Ticket]:
        """The tickets waiting under *key*, oldest first."""
        return list(self._waiting.get(key, ()))

    def keys(self) -> list[Hashable]:
        return list(self._waiting)

    def position(self, ticket_id: str) -> int | None:
        """1-based place of a ticket in its key's queue, or None if not waiting."""
        ticket = self._by_id.get(ticket_id)
        if ticket is None:
            return None
        return self._waiting[ticket.key].index(ticket) + 1

    def add(self, ticket: Ticket, now: float) -> list[list[Ticket]]:
        """Queue *ticket*; return the groups that became complete (oldest first)."""
        if ticket.id in self._by_id:
            raise ValueError(f"ticket {ticket.id!r} is already waiting")
        if self.bands is not None and ticket.rating is None:
            raise ValueError("this matchmaker rates players: the ticket needs a rating")
        self._by_id[ticket.id] = ticket
        queue = self._waiting.setdefault(ticket.key, [])
        # In join-time order, not at the end: a ticket put back after its group
        # fell apart while being seated keeps its place (first come, first matched).
        queue.insert(bisect.bisect_right(queue, ticket.joined_at, key=_joined_at), ticket)
        return self._match(ticket.key, now)

    def remove(self, ticket_id: str) -> Ticket | None:
        """Forget a ticket (its player left); return it if it was waiting."""
        ticket = self._by_id.pop(ticket_id, None)
        if ticket is not None:
            queue = self._waiting[ticket.key]
            queue.remove(ticket)
            if not queue:
                del self._waiting[ticket.key]
        return ticket

    def tick(self, now: float) -> list[list[Ticket]]:
        """Re-match every key (bands widen with time); return the new groups."""
        groups: list[list[Ticket]] = []
        for key in list(self._waiting):
            groups.extend(self._match(key, now))
        return groups

    def _compatible(self, a: Ticket, b: Ticket, now: float) -> bool:
        bands = self.bands
        if bands is None:
            return True
        limit = min(bands.at(now - a.joined_at), bands.at(now - b.joined_at)) + max(a.spread, b.spread)
        return bool(abs(a.rating - b.rating) <= limit)  # type: ignore[operator]  # both rated when bands are in use

    def _match(self, key: Hashable, now: float) -> list[list[Ticket]]:
        groups: list[list[Ticket]] = []
        n = self.n
        while True:
            queue = self._waiting.get(key)
            if not queue or len(queue) < n:
                return groups
            group = self._find_group(queue, now)
            if group is None:
                return groups
            for ticket in group:
                self.remove(ticket.id)
            groups.append(group)

    def _find_group(self, queue: list[Ticket], now: float) -> list[Ticket] | None:
        n = self.n
        if self.bands is None:
            return queue[:n]
        for i, anchor in enumerate(queue):
            if len(queue) - i < n:
                return None
            group = [anchor]
            for other in queue[i + 1 :]:
                if all(self._compatible(member, other, now) for member in group):
                    group.append(other)
                    if len(group) == n:
                        return group
        return None

    def tickets(self) -> Iterable[Ticket]:
        return self._by_id.values()
