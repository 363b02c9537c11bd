"""``Lobby``: matchmaking on top of ``ws``'s upgrade path, then a game per group.

A lobby is a request handler (mount it with ``app.route``).  Each connection
either waits for a match, takes back a held seat (``?token=``), or watches a
running room (``?watch=<room id>``).  Like ``ws.aggregate`` it gathers n
connections and calls one handler with all of them; unlike it, matching goes
through a :class:`rooms.matching.Matchmaker` (modes, private codes, rating
bands), and the game runs in a task owned by the server rather than by the
last player's connection, so it survives any one player's reconnect.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import ws
from ws.exceptions import closed_in_group

from .backend import MemoryBackend
from .exceptions import CLOSE_CODES, TurnTimeout
from .matching import Bands, LobbyKey, Ticket
from .room import Player, Room, RoomEvent, Spectator
from .tokens import TokenSigner

__all__ = ["Lobby", "lobby"]

logger = logging.getLogger("rooms")

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_MAX_NAME = 32


def _default_identity(request: ws.Request, number: int) -> dict[str, Any]:
    name = (request.query.get("name") or "").strip()[:_MAX_NAME]
    return {"name": name or f"player-{number}"}


class Lobby:
    """Gathers *n* players per key and runs ``game(room)`` for each group.

    Keys: the request path, ``mode(request)`` (a game mode; raise
    ``ws.HTTPError(400)`` to refuse one), and with ``private=True`` a room code
    (``?code=new`` creates one, ``?code=XXXXXX`` joins it).  ``rating(request)``
    and ``bands`` match players of similar rating, the band widening while they
    wait.  ``auth(request)`` runs before the upgrade: it returns the player's
    identity or raises ``ws.HTTPError(401/403)``; a dict identity's ``name``
    names the player (``player-<n>`` when it has none), another value is named
    by ``str(identity)``.
    ``max_wait`` seconds without a match ends the wait with close 4000.
    ``reconnect`` seconds hold a dropped player's seat for a reconnect with the
    seat token.  The game's return value is the room's result.
    """

    def __init__(
        self,
        n: int,
        game: Callable[[Room], Awaitable[Any]],
        *,
        mode: Callable[[ws.Request], Hashable] | None = None,
        private: bool = False,
        rating: Callable[[ws.Request], float] | None = None,
        bands: Bands | None = None,
        auth: Callable[[ws.Request], Any] | None = None,
        max_wait: float | None = None,
        reconnect: float | None = None,
        on_event: Callable[[RoomEvent], Any] | None = None,
        on_resume: Callable[[Room, Player], Any] | None = None,
        on_spectate: Callable[[Room, Spectator], Any] | None = None,
        spectators: bool = True,
        secret: bytes | str | None = None,
        backend: Any = None,
        name: str | None = None,
        keep_results: int = 100,
        max_buffer: int | None = 2**20,
        **endpoint_options: Any,
    ) -> None:
        if n < 1:
            raise ValueError("a lobby needs n >= 1")
        self.n = n
        self.game = game
        self.mode = mode
        self.private = private
        self.rating = rating
        if rating is not None and bands is None:
            bands = Bands()
        self.max_wait = max_wait
        self.reconnect = reconnect
        self.on_event = on_event
        self.on_resume = on_resume
        self.on_spectate = on_spectate
        self.allow_spectators = spectators
        self.tokens = TokenSigner(secret)
        self.secret_given = secret is not None
        self.bands = bands if rating is not None else None
        self.name = name or getattr(game, "__name__", "lobby")
        # A cluster backend (rooms.RedisBackend) is shared by the lobbies of a
        # process; ``attach`` gives this lobby its own view of it.
        self.backend = backend.attach(self) if hasattr(backend, "attach") else backend or MemoryBackend(n, bands=self.bands)
        self._cluster = getattr(self.backend, "distributed", False)
        self.max_buffer = max_buffer
        self.results: deque[tuple[str, Any]] = deque(maxlen=keep_results)
        self._auth = auth
        ws.endpoint(**endpoint_options)  # a misspelt option fails here, not on every connection
        self._endpoint_options = endpoint_options
        self._numbers = itertools.count(1)
        self._tick: asyncio.TimerHandle | None = None
        self.__name__ = getattr(game, "__name__", "lobby")

    # ------------------------------------------------------------------ request handler

    async def __call__(self, request: ws.Request, **params: Any) -> Any:
        identity = await self._identify(request)
        token = request.query.get("token")
        watch = request.query.get("watch")
        code = request.query.get("code") if self.private else None
        if code is not None:
            code = code.strip().upper()
            if not code:
                raise ws.HTTPError(400, "empty room code")
        new_code = code == "NEW"
        key = None
        if token is None and watch is None:
            mode = self.mode(request) if self.mode is not None else None
            if new_code:
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
            key = LobbyKey(request.path, mode, code)
        # Before the upgrade, so that the hook can refuse with ws.HTTPError(400).
        rating = float(self.rating(request)) if self.rating is not None and key is not None else None
        sock = ws.accept(request, **self._endpoint_options)
        try:
            if self._cluster:
                await self._cluster_call(request, sock, identity, key, code, new_code, token, watch, rating)
            elif token is not None:
                await self._resume(sock, token)
            elif watch is not None:
                await self._watch(sock, watch)
            elif code is not None and not new_code and not self.backend.has_key(key):
                await self._refuse(sock, "unknown_room", f"no private room with code {code}")
            else:
                await self._wait_for_match(request, sock, identity, key, code, rating)
        except ws.Closed:
            pass
        finally:
            await _drain_close(sock)
        return None

    async def _cluster_call(self, request, sock, identity, key, code, new_code, token, watch, rating) -> None:
        """The same three paths on a cluster backend: matching, reconnects and
        watching may all involve rooms hosted by other processes."""
        backend = self.backend
        await backend.start(request.server)
        if token is not None:
            await backend.resume(sock, token)
        elif watch is not None:
            await backend.watch(sock, watch)
        elif code is not None and not new_code and not await backend.has_key(key):
            await self._refuse(sock, "unknown_room", f"no private room with code {code}")
        else:
            await backend.wait_for_match(request, sock, identity, key, rating)

    async def _identify(self, request: ws.Request) -> Any:
        if self._auth is None:
            return _default_identity(request, next(self._numbers))
        identity = self._auth(request)
        if inspect.isawaitable(identity):
            identity = await identity
        if identity is None:
            raise ws.HTTPError(403, "forbidden")
        if isinstance(identity, dict) and "name" not in identity:
            identity = {**identity, "name": f"player-{next(self._numbers)}"}
        return identity

    async def _refuse(self, sock: ws.WebSocket, error: str, detail: str) -> None:
        sock.text(_json({"type": "error", "error": error, "detail": detail}))
        await sock.close(CLOSE_CODES[error], detail[:100])

    # ------------------------------------------------------------------ waiting

    async def _wait_for_match(
        self, request: ws.Request, sock: ws.WebSocket, identity: Any, key: LobbyKey, code: str | None, rating: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        matched: asyncio.Future[tuple[Room, Player]] = loop.create_future()
        ticket = Ticket(secrets.token_hex(8), key, time.monotonic(), rating, _Waiting(sock, identity, matched, request))
        left = loop.create_future()

        def on_close(_: ws.WebSocket) -> None:
            if self.backend.leave(ticket.id):
                self._announce(key)
            if not left.done():
                left.set_result(None)

        sock.add_close_callback(on_close)
        try:
            groups = self.backend.join(ticket)
            self._announce(key)
            for group in groups:
                self._start(group, request)
            self._schedule_tick()
            done, _ = await asyncio.wait([matched, left], timeout=self.max_wait, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                if self.backend.leave(ticket.id):
                    self._announce(key)
                await self._refuse(sock, "lobby_timeout", f"no match within {self.max_wait:g} s")
                return
            if not matched.done():
                return  # left while waiting
            room, player = matched.result()
        finally:
            sock.remove_close_callback(on_close)
            if self.backend.leave(ticket.id):
                self._announce(key)
        await self._hold(room, sock)

    async def _hold(self, room: Room, sock: ws.WebSocket) -> None:
        """This connection's task lives until the room ends or the socket goes."""
        gone = asyncio.get_running_loop().create_future()

        def on_close(_: ws.WebSocket) -> None:
            if not gone.done():
                gone.set_result(None)

        sock.add_close_callback(on_close)
        try:
            await asyncio.wait([gone, room._done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sock.remove_close_callback(on_close)

    def _announce(self, key: LobbyKey) -> None:
        """Tell everyone waiting under *key* how many of n are here, and their place."""
        waiting = self.backend.waiting(key)
        for position, ticket in enumerate(waiting, 1):
            status = {"type": "lobby", "have": len(waiting), "need": self.n, "position": position}
            if key.code is not None:
                status["code"] = key.code
            if not ticket.payload.sock.closed:
                ticket.payload.sock.text(_json(status))

    def _schedule_tick(self) -> None:
        """With rating bands, re-match while anyone waits: bands widen with time."""
        if self.rating is None or self._tick is not None or not len(self.backend):
            return
        self._tick = asyncio.get_running_loop().call_later(0.5, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        groups = self.backend.tick()
        for group in groups:
            self._start(group, group[0].payload.request)
        for key in {group[0].key: None for group in groups}:
            self._announce(key)  # those still waiting there moved up
        self._schedule_tick()

    # ------------------------------------------------------------------ seating

    def _start(self, group: list[Ticket], request: ws.Request) -> None:
        """Seat a complete group and start its game in a server-owned task."""
        alive = [t for t in group if not t.payload.sock.closed]
        if len(alive) < len(group):
            # Someone left while being seated: the others go back to their place.
            for ticket in alive:
                for regroup in self.backend.join(ticket):
                    self._start(regroup, request)
            for ticket in {t.key: t for t in alive}.values():
                self._announce(ticket.key)
            return
        room_id = secrets.token_urlsafe(9).replace(".", "")
        seats = [(t.payload.identity, t.payload.sock) for t in group]
        room, players = self._open_room(room_id, seats, group[0].key, request.server)
        for ticket, player in zip(group, players):
            ticket.payload.matched.set_result((room, player))
        request.server.spawn(self._run(room))

    def _open_room(self, room_id: str, seats: list[tuple[Any, Any]], key: LobbyKey, server: ws.Server) -> tuple[Room, list[Player]]:
        """Create the room for *seats* (identity, socket) in seat order, register it
        with the backend and send everyone ``matched``.  The caller starts the game."""
        players = []
        for seat, (identity, sock) in enumerate(seats):
            token, parsed = self.tokens.issue(room_id, seat)
            name = identity.get("name") if isinstance(identity, dict) else str(identity)
            players.append(Player(seat, name, identity, sock, token=token, nonce=parsed.nonce))
        room = Room(
            room_id,
            players,
            key=key,
            reconnect=self.reconnect,
            on_event=self.on_event,
            on_resume=self.on_resume,
            on_spectate=self.on_spectate,
            is_shutting_down=lambda: server.closing,
            max_buffer=self.max_buffer,
        )
        self.backend.add_room(room)
        for player in players:
            player.send(
                {
                    "type": "matched",
                    "room": room_id,
                    "seat": player.seat,
                    "token": player.token,
                    "reconnect": self.reconnect,
                    "players": [p.info() for p in players],
                }
            )
        return room, players

    async def _run(self, room: Room) -> None:
        code, reason, result = 1000, "game over", None
        try:
            result = await self.game(room)
        except ws.Closed as exc:
            player = getattr(exc, "player", None)
            result = {"reason": "player_left", "player": player.info() if player else None}
        except TurnTimeout as exc:
            # A time-out the game did not handle is still a result, not a crash.
            player = exc.player
            result = {"reason": "flag_fell" if exc.flagged else "timeout", "player": player.info() if isinstance(player, Player) else None}
        except BaseExceptionGroup as errors:
            # A TaskGroup in the game reports a player leaving as a group of Closed.
            closed = closed_in_group(errors)
            if closed is None:
                logger.error("error in game %s of room %s", self.__name__, room.id, exc_info=errors)
                code, reason = 1011, "internal error"
            else:
                player = getattr(closed, "player", None)
                result = {"reason": "player_left", "player": player.info() if player else None}
        except asyncio.CancelledError:
            code, reason = 1001, "server shutting down"
            raise
        except Exception:
            logger.exception("error in game %s of room %s", self.__name__, room.id)
            code, reason = 1011, "internal error"
        finally:
            room._end(result, code, reason)
            self.backend.remove_room(room)
            if code == 1000:
                self.results.append((room.id, result))

    # ------------------------------------------------------------------ reconnect and watch

    async def _resume(self, sock: ws.WebSocket, text: str) -> None:
        token = self.tokens.verify(text)
        if token is None:
            await self._refuse(sock, "invalid_token", "invalid seat token")
            return
        room = self.backend.get_room(token.room_id)
        found = self._check_seat(room, token)
        if isinstance(found, tuple):
            await self._refuse(sock, *found)
            return
        await room.resume(found, sock)
        await self._hold(room, sock)

    def _check_seat(self, room: Room | None, token: Any) -> Player | tuple[str, str]:
        """The player a verified seat *token* may take back, or ``(error, detail)``."""
        if room is None or room.ended:
            return "unknown_room", "this room is over or unknown"
        if token.seat >= len(room.players):
            return "invalid_token", "invalid seat token"
        player = room.players[token.seat]
        if player.nonce != token.nonce:
            return "invalid_token", "invalid seat token"
        if player.expired:
            return "seat_expired", "the grace time for this seat is over"
        if player.gone or not self.reconnect:
            return "seat_unavailable", "this seat is no longer held"
        return player

    async def _watch(self, sock: ws.WebSocket, room_id: str) -> None:
        room = self.backend.get_room(room_id)
        if not self.allow_spectators or room is None or room.ended:
            await self._refuse(sock, "unknown_room", "no running room with this id")
            return
        await room.add_spectator(Spectator(sock))
        await self._hold(room, sock)

    # ------------------------------------------------------------------ introspection

    @property
    def rooms(self) -> list[Room]:
        """The rooms running now."""
        return self.backend.rooms()

    def waiting(self) -> int:
        """How many players are waiting for a match (on a cluster: in this process)."""
        return len(self.backend)


class _Waiting:
    __slots__ = ("sock", "identity", "matched", "request")

    def __init__(self, sock: ws.WebSocket, identity: Any, matched: asyncio.Future, request: ws.Request) -> None:
        self.sock = sock
        self.identity = identity
        self.matched = matched
        self.request = request


async def _drain_close(sock: ws.WebSocket) -> None:
    sock.close(1000, "")
    await sock.wait_closed()


def _json(obj: Any) -> str:
    from .codec import encode_text

    return encode_text(obj)


def lobby(n: int, **options: Any) -> Callable[[Callable[[Room], Awaitable[Any]]], Lobby]:
    """Decorator form: ``@app.route("/chess") @rooms.lobby(2, reconnect=30) async def chess(room): ...``."""

    def decorate(game: Callable[[Room], Awaitable[Any]]) -> Lobby:
        return Lobby(n, game, **options)

    return decorate

