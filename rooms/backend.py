"""Where lobbies keep waiting tickets and running rooms.

Two kinds of backends:

- :class:`MemoryBackend` (the default) keeps both in this process and needs
  nothing installed.  The lobby calls its methods synchronously (``join``,
  ``leave``, ``tick``, ``waiting``, ``has_key``, the room registry): a join and
  the statuses it causes happen with no suspension point in between, which the
  lobby's ordering guarantees rely on.
- A cluster backend (:class:`rooms.RedisBackend`, in ``rooms.redis_backend``)
  is shared by the lobbies of a process: ``backend.attach(lobby)`` gives each
  lobby a view with ``distributed = True``, the same synchronous room registry
  (``add_room``, ``remove_room``, ``get_room``, ``rooms``, ``len``) for the rooms
  hosted here, and async methods that take over a connection's whole path
  (``start``, ``wait_for_match``, ``resume``, ``watch``, ``has_key``), since on
  a cluster each may involve other processes.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from .matching import Bands, LobbyKey, Matchmaker, Ticket

if TYPE_CHECKING:
    from .room import Room

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Tickets in a :class:`Matchmaker`, rooms in a dict: one process."""

    def __init__(self, n: int, *, bands: Bands | None = None) -> None:
        self._matchmaker = Matchmaker(n, bands=bands)
        self._rooms: dict[str, Room] = {}

    def __len__(self) -> int:
        return len(self._matchmaker)

    # tickets
    def join(self, ticket: Ticket) -> list[list[Ticket]]:
        """Queue *ticket* (in join-time order); return the groups now complete."""
        return self._matchmaker.add(ticket, time.monotonic())

    def leave(self, ticket_id: str) -> bool:
        """Remove a waiting ticket; False if it was not waiting (matched or gone)."""
        return self._matchmaker.remove(ticket_id) is not None

    def tick(self) -> list[list[Ticket]]:
        return self._matchmaker.tick(time.monotonic())

    def waiting(self, key: LobbyKey | tuple[str, Hashable, str | None]) -> list[Ticket]:
        """The tickets waiting under *key* (a ``(path, mode, code)`` tuple is read as one), oldest first."""
        return self._matchmaker.waiting(LobbyKey(*key) if isinstance(key, tuple) else key)

    def has_key(self, key: LobbyKey) -> bool:
        return bool(self._matchmaker.waiting(key))

    # rooms
    def add_room(self, room: Room) -> None:
        self._rooms[room.id] = room

    def remove_room(self, room: Room) -> None:
        self._rooms.pop(room.id, None)

    def get_room(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())
