"""The in-memory backend: one lobby's tickets and rooms in this process.

Everything happens at once: :meth:`MemoryBackend.queue` forms the groups its
ticket completes, sends the ``lobby`` statuses and has the lobby seat each
group without a suspension point in between, so a client sees its statuses
and ``matched`` in a fixed order.  With rating bands it re-matches every
0.5 s while anyone waits (bands widen with time).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Hashable
from typing import Any, cast

import ws

from . import wire
from .backend import Backend, Elsewhere, Entrant, Entry, Hosted, LobbyView, Refusal, Seat
from .log import Kind, Meta, RoomLog
from .matching import Bands, LobbyKey, Matchmaker, Ticket
from .room import Room

__all__ = ["MemoryBackend"]

_TICK = 0.5  # seconds between re-matches while rated players wait


def _entrant(ticket: Ticket) -> Entrant:
    return cast(Entrant, ticket.payload)


class MemoryBackend(Backend):
    """Tickets in a :class:`Matchmaker`, rooms in a dict: one lobby, one process.

    A lobby builds its own (``MemoryBackend(n, bands=...)``) unless given one;
    one backend serves one lobby (``ValueError`` for a second).  ``log=True``
    keeps an input log per room, in memory (``room.log``): the match's record,
    and a check of the determinism contract; nothing survives this process.
    """

    __slots__ = ("_matchmaker", "_rooms", "_lobby", "_tick", "log")

    def __init__(self, n: int, *, bands: Bands | None = None, log: bool = False) -> None:
        self.log = log
        self._matchmaker = Matchmaker(n, bands=bands)
        self._rooms: dict[str, Room] = {}
        self._lobby: LobbyView | None = None
        self._tick: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._matchmaker)

    @property
    def secret(self) -> bytes | None:
        return None  # one process: the lobby's own secret is enough

    def attach(self, lobby: LobbyView) -> None:
        if self._lobby is not None and self._lobby is not lobby:
            raise ValueError("a MemoryBackend serves one lobby: give each lobby its own")
        self._lobby = lobby

    async def start(self, server: ws.Server) -> None:
        return None

    # ------------------------------------------------------------------ tickets

    async def queue(self, lobby: LobbyView, ticket: Ticket) -> None:
        groups = self._matchmaker.add(ticket, time.monotonic())
        self._announce(ticket.key)
        for group in groups:
            self._seat(group)
        self._schedule_tick()

    def leave(self, ticket: Ticket) -> bool:
        if self._matchmaker.remove(ticket.id) is None:
            return False
        self._announce(ticket.key)
        return True

    async def withdraw(self, ticket: Ticket) -> bool:
        return self.leave(ticket)

    async def has_key(self, lobby: LobbyView, key: LobbyKey) -> bool:
        return bool(self._matchmaker.waiting(key))

    def waiting(self, key: LobbyKey | tuple[str, Hashable, str | None]) -> list[Ticket]:
        """The tickets waiting under *key* (a ``(path, mode, code)`` tuple is read as one), oldest first."""
        return self._matchmaker.waiting(LobbyKey(*key) if isinstance(key, tuple) else key)

    def waiting_count(self, lobby: LobbyView) -> int:
        return len(self._matchmaker)

    def waiting_tickets(self, lobby: LobbyView) -> list[Ticket]:
        return list(self._matchmaker.tickets())

    def _announce(self, key: Hashable) -> None:
        """Tell everyone waiting under *key* how many of n are here, and their place."""
        waiting = self._matchmaker.waiting(key)
        code = key.code if isinstance(key, LobbyKey) else None
        need = self._view().n
        for position, ticket in enumerate(waiting, 1):
            _entrant(ticket).send(wire.lobby_status(len(waiting), need, position, code))

    def _seat(self, group: list[Ticket]) -> None:
        """Have the lobby host a complete group, unless someone left while it formed."""
        alive = [t for t in group if not _entrant(t).sock.closed]
        if len(alive) < len(group):
            # Someone left while being seated: the others go back to their place.
            for ticket in alive:
                for regroup in self._matchmaker.add(ticket, time.monotonic()):
                    self._seat(regroup)
            for ticket in {t.key: t for t in alive}.values():
                self._announce(ticket.key)
            return
        room_id = secrets.token_urlsafe(9).replace(".", "")
        entrants = [_entrant(t) for t in group]
        seats = [Seat(e.identity, e.sock, e) for e in entrants]
        self._view().open_room(room_id, cast(LobbyKey, group[0].key), seats, entrants[0].request.server)

    def _schedule_tick(self) -> None:
        if self._matchmaker.bands is None or self._tick is not None or not len(self._matchmaker):
            return
        self._tick = asyncio.get_running_loop().call_later(_TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        groups = self._matchmaker.tick(time.monotonic())
        for group in groups:
            self._seat(group)
        for key in {group[0].key: None for group in groups}:
            self._announce(key)  # those still waiting there moved up
        self._schedule_tick()

    def _view(self) -> LobbyView:
        if self._lobby is None:
            raise RuntimeError("this MemoryBackend is not attached to a lobby")
        return self._lobby

    # ------------------------------------------------------------------ rooms

    def open_log(self, lobby: LobbyView, meta: Meta, *, required: bool = False) -> RoomLog | None:
        if not (self.log or required):
            return None
        log = RoomLog()
        log.record([Kind.OPEN.value, meta.to_list()])
        return log

    def add_room(self, lobby: LobbyView, room: Room) -> None:
        self._rooms[room.id] = room

    def remove_room(self, room: Room) -> None:
        self._rooms.pop(room.id, None)

    def get_room(self, room_id: str) -> Room | None:
        """The running room *room_id*, if any."""
        return self._rooms.get(room_id)

    def rooms(self, lobby: LobbyView) -> list[Room]:
        return list(self._rooms.values())

    async def find_room(self, lobby: LobbyView, room_id: str) -> Hosted | None:
        room = self._rooms.get(room_id)
        return Hosted(room) if room is not None else None

    async def request_seat(self, lobby: LobbyView, sock: ws.MessageSocket, where: Elsewhere, entry: Entry) -> Refusal:
        raise RuntimeError("a MemoryBackend has no other process to ask")  # find_room never says Elsewhere

    async def relay(self, handle: Any) -> None:
        raise RuntimeError("a MemoryBackend has no other process to relay to")  # nothing is ever Bridged
