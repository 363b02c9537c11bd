"""The chat example: open rooms anyone joins by name, and groups of n from a lobby.

Mounted by :func:`mount`::

    /chat/                 the page
    /chat/room/{name}      an open named room (?name=<nickname>): ws.endpoint + a registry
    /chat/size/{n}         a group of exactly n people (2..8), gathered by a rooms.Lobby
    /chat/rooms            JSON: the open rooms and how many wait for each group size

Two kinds of room because they are two different things.  A group of n is
matchmaking: wait until n people are here, then talk; the rooms layer does that
(with seat tokens, so a reload brings you back).  An open room has no size and
no start: people come and go, and it lives while someone is in it.  ``rooms``
only gathers fixed groups, so open rooms are built on the ``ws`` primitives
directly: ``ws.endpoint`` for each connection, a dict of rooms for the
registry, ``ws.broadcast`` to send one frame to everyone.  Both speak the same
messages, produced by :class:`.logic.ChatRoom`:

client -> server   {"type": "say", "text": "..."}
server -> client   welcome (room, you, people, history, limits), joined, left,
                   chat (nick, text, ts), error (too_long, empty, flood, bad_message, room_full)

A group also gets the rooms messages (lobby, matched, player_left, player_returned,
resumed with ``state`` = a welcome).  The contract, with an example exchange that
tests/examples/test_protocol_doc.py replays, is docs/games.md#chat.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable
from typing import Any

import rooms
import ws

from .logic import ChatError, ChatRoom, clean_nick, clean_room_name

__all__ = ["mount", "OpenRooms"]

STATIC = pathlib.Path(__file__).parent / "static"
# Compact JSON, as the rooms layer writes it: one encoding for every chat frame.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class OpenRooms:
    """The registry of open named rooms: created by the first to join, gone with the last."""

    def __init__(self, *, max_rooms: int = 1000, **room_options: Any) -> None:
        self.max_rooms = max_rooms
        self.room_options = room_options
        self.rooms: dict[str, ChatRoom] = {}
        self.socks: dict[str, dict[ws.WebSocket, None]] = {}  # insertion-ordered sets

    def listing(self) -> list[dict[str, Any]]:
        return [{"name": name, "people": len(room)} for name, room in sorted(self.rooms.items())]

    def _send_all(self, name: str, obj: dict[str, Any], exclude: ws.WebSocket | None = None) -> None:
        socks = [s for s in self.socks.get(name, ()) if s is not exclude]
        ws.broadcast(socks, _encode(obj), max_buffer=2**20)

    async def serve(self, request: ws.Request, sock: ws.WebSocket, name: str) -> None:
        """One connection in room *name*, from join to leave."""
        room = self.rooms.get(name)
        if room is None:
            if len(self.rooms) >= self.max_rooms:
                sock.text(_encode(ChatError("too_many_rooms", "too many open rooms; try an existing one").to_json()))
                return
            room = self.rooms[name] = ChatRoom(name, **self.room_options)
            self.socks[name] = {}
        try:
            welcome, joined = room.join(sock, clean_nick(request.query.get("name")))
        except ChatError as err:
            sock.text(_encode(err.to_json()))
            self._drop_if_empty(name)
            return
        self.socks[name][sock] = None
        try:
            sock.text(_encode(welcome))
            self._send_all(name, joined, exclude=sock)
            async for raw in sock:
                try:
                    msg = json.loads(raw) if isinstance(raw, str) else None
                    self._send_all(name, room.handle(sock, msg))
                except (ValueError, ChatError) as err:
                    error = err if isinstance(err, ChatError) else ChatError("bad_message", "messages are JSON text")
                    sock.text(_encode(error.to_json()))
        finally:
            self.socks[name].pop(sock, None)
            left = room.leave(sock)
            if left is not None:
                self._send_all(name, left)
            self._drop_if_empty(name)

    def _drop_if_empty(self, name: str) -> None:
        room = self.rooms.get(name)
        if room is not None and not len(room):
            del self.rooms[name]
            del self.socks[name]


def make_group_chat(**room_options: Any):
    async def group_chat(room: rooms.Room) -> dict[str, Any]:
        """A group of n gathered by the lobby: talk until everyone has left."""
        # The room's clock and wall time, so that a replay of the room reads the same.
        options = {"now": room.clock, "clock": room.now, **room_options}
        return await _group_chat(room, ChatRoom(f"group of {len(room.players)}", **options))

    return group_chat


async def _group_chat(room: rooms.Room, chat: ChatRoom) -> dict[str, Any]:
    room.state = chat
    for player in room.players:
        chat.join(player, player.name)
    for player in room.players:
        player.send(chat.rejoin(player))
    said = 0
    while any(not p.gone for p in room.players):
        try:
            player, msg = await room.receive()
        except ws.Closed as exc:
            gone = getattr(exc, "player", None)
            if gone is None:
                break
            left = chat.leave(gone)
            if left is not None:
                room.broadcast(left)
            continue
        try:
            room.broadcast(chat.handle(player, msg))
            said += 1
        except ChatError as err:
            player.send(err.to_json())
    return {"messages": said}


def _rejoin(room: rooms.Room, player: rooms.Player) -> dict[str, Any] | None:
    chat = room.state
    return chat.rejoin(player) if isinstance(chat, ChatRoom) and player in chat.members else None


def mount(
    app: ws.App,
    prefix: str = "/chat",
    *,
    sizes: Iterable[int] = range(2, 9),
    reconnect: float = 30.0,
    **room_options: Any,
) -> tuple[OpenRooms, dict[int, rooms.Lobby]]:
    """Add the chat page, open rooms and one lobby per group size to *app*.

    *room_options* go to every :class:`ChatRoom` of the open rooms (``rate``,
    ``burst``, ``max_text``, ...).  Returns the registry and the lobbies.
    """
    registry = OpenRooms(**room_options)
    lobbies: dict[int, rooms.Lobby] = {}
    for n in sizes:
        lobby = rooms.Lobby(n, make_group_chat(**room_options), reconnect=reconnect, on_resume=_rejoin, spectators=False)
        lobbies[n] = lobby
        app.route(f"{prefix}/size/{n}")(lobby)

    open_room = ws.endpoint(registry.serve, max_message_size=16 * 1024)

    @app.route(prefix + "/room/{name}")
    async def named(request: ws.Request, name: str) -> Any:
        try:
            name = clean_room_name(name)
        except ChatError as err:
            raise ws.HTTPError(400, str(err)) from None
        return await open_room(request, name=name)

    @app.route(prefix + "/rooms")
    async def listing(request: ws.Request) -> ws.Response:
        return ws.Response.json(
            {"open": registry.listing(), "sizes": sorted(lobbies), "waiting": {str(n): lobby.waiting() for n, lobby in lobbies.items()}}
        )

    @app.route(prefix)
    async def page_redirect(request: ws.Request) -> ws.Response:
        return ws.Response.redirect(prefix + "/")

    app.mount_static(prefix, STATIC)
    return registry, lobbies
