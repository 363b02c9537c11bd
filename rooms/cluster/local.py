"""What this process holds of the cluster: its server, its lobbies (by name,
the same on every process) and the rooms it hosts."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import attrs

import ws

from ..backend import LobbyView
from ..room import Room

__all__ = ["Local", "HostedRoom"]


@attrs.frozen(slots=True)
class HostedRoom:
    """A room this process hosts, and the lobby it belongs to."""

    lobby: LobbyView
    room: Room


class Local:
    """The lobbies and hosted rooms of this process, and the server that owns its tasks."""

    __slots__ = ("server", "_lobbies", "_rooms", "durable", "adopting")

    def __init__(self, durable: bool = True) -> None:
        self.server: ws.Server | None = None
        self._lobbies: dict[str, LobbyView] = {}
        self._rooms: dict[str, HostedRoom] = {}
        self.durable = durable  # the backend keeps room logs
        self.adopting: set[str] = set()  # rooms being replayed here (not yet live)

    def is_durable(self, lobby: LobbyView) -> bool:
        """Whether the rooms of *lobby* keep a log (and so can change host)."""
        return self.durable and lobby.durable is not False

    @property
    def draining(self) -> bool:
        """The server is shutting down: no new rooms, no adoptions."""
        return self.server is not None and self.server.closing

    def attach(self, lobby: LobbyView) -> None:
        """Register *lobby*; ``ValueError`` if another has its name."""
        if lobby.name in self._lobbies:
            raise ValueError(f"two lobbies named {lobby.name!r} on one backend: give them a name=")
        self._lobbies[lobby.name] = lobby

    def lobby(self, name: str) -> LobbyView | None:
        """The lobby called *name* here, if any."""
        return self._lobbies.get(name)

    def lobbies(self) -> list[LobbyView]:
        """Every lobby of this process's backend."""
        return list(self._lobbies.values())

    # rooms hosted here
    def add(self, lobby: LobbyView, room: Room) -> None:
        self._rooms[room.id] = HostedRoom(lobby, room)

    def remove(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)

    def get(self, room_id: str) -> HostedRoom | None:
        return self._rooms.get(room_id)

    def hosted(self) -> list[HostedRoom]:
        return list(self._rooms.values())

    def rooms_of(self, lobby: LobbyView) -> list[Room]:
        return [hosted.room for hosted in self._rooms.values() if hosted.lobby is lobby]

    def __len__(self) -> int:
        """How many rooms run here."""
        return len(self._rooms)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run *coro* in a task owned by the server."""
        if self.server is not None:
            self.server.spawn(coro)
        else:  # pragma: no cover - a backend started without a server
            asyncio.get_running_loop().create_task(coro)
