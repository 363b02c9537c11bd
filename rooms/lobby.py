"""``Lobby``: matchmaking on top of ``ws``'s upgrade path, then a game per group.

A lobby is a request handler (mount it with ``app.route``).  Each connection
either waits for a match, takes back a held seat (``?token=``), or watches a
running room (``?watch=<room id>``).  Like ``ws.aggregate`` it gathers n
connections and calls one handler with all of them; unlike it, matching
goes through its :class:`rooms.Backend` (modes, private codes, rating bands;
in memory or across a cluster), and the game runs in a task owned by the
server rather than by the last player's connection, so it survives any one
player's reconnect.  The lobby decides; the backend stores and transports
(see :mod:`rooms.backend` for the contract between them).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import ws
from ws.closecodes import CloseCode
from ws.exceptions import closed_in_group

from . import wire
from .archive import Archive, RoomEnd
from .backend import Admission, Backend, Claim, Elsewhere, Entrant, Entry, Match, Refusal, Resume, Seat, Seated, Watch
from .codec import encode_text
from .exceptions import CLOSE_CODES, GameDiverged, PlayerLeft, RoomMoved, TurnTimeout
from .log import Meta, RoomLog, SeatMeta, storable
from .matching import Bands, LobbyKey, Ticket
from .memory import MemoryBackend
from .ratings import Ratings
from .room import Player, Room, RoomEvent, Spectator
from .stats import OPERATOR_ENDED, LobbyStats, collect_lobby
from .tokens import SeatToken, TokenSigner

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
    ``archive`` (a URL such as ``"sqlite:///games.db"``, or an
    :class:`rooms.Archive`) keeps every room that ends, with
    ``record(room, result)`` as the game's own record; ``ratings`` (a
    :class:`rooms.Ratings`, or ``True`` for the defaults) rates 2-player rooms
    there and, without a ``rating`` hook, matches players by those ratings.
    ``durable`` keeps an input log per room so that the room survives its
    host process (docs/explanation.md, "Durable rooms"); ``None`` follows the
    backend (a cluster's rooms are durable, the memory backend's keep no log
    unless ``MemoryBackend(log=True)``).
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
        backend: Backend | None = None,
        name: str | None = None,
        keep_results: int = 100,
        max_buffer: int | None = 2**20,
        archive: str | Archive | None = None,
        ratings: Ratings | bool | None = None,
        record: Callable[[Room, Any], Any] | None = None,
        durable: bool | None = None,
        **endpoint_options: Any,
    ) -> None:
        if n < 1:
            raise ValueError("a lobby needs n >= 1")
        self.n = n
        self.game = game
        self.mode = mode
        self.private = private
        self.rating = rating
        self.archive: Archive | None = Archive(archive) if isinstance(archive, str) else archive
        self.ratings: Ratings | None = Ratings() if ratings is True else (ratings or None)
        if self.ratings is not None and self.archive is None:
            raise ValueError("ratings= keeps ratings in the lobby's archive: give it archive= too")
        self.record = record
        rated = rating is not None or self.ratings is not None
        if rated and bands is None:
            bands = Bands()
        self.max_wait = max_wait
        self.reconnect = reconnect
        self.on_event = on_event
        self.on_resume = on_resume
        self.on_spectate = on_spectate
        self.allow_spectators = spectators
        self._tokens = TokenSigner(secret)
        self._shared: tuple[bytes, TokenSigner] | None = None  # the backend's secret and its signer
        self.secret_given = secret is not None
        self.bands = bands if rated else None
        self.name: str = name or str(getattr(game, "__name__", "lobby"))
        self.backend: Backend = backend if backend is not None else MemoryBackend(n, bands=self.bands)
        self.backend.attach(self)
        self.max_buffer = max_buffer
        self.durable = durable
        self.results: deque[tuple[str, Any]] = deque(maxlen=keep_results)
        self._auth = auth
        ws.endpoint(**endpoint_options)  # a misspelt option fails here, not on every connection
        self._endpoint_options = endpoint_options
        self._numbers = itertools.count(1)
        self.__name__ = getattr(game, "__name__", "lobby")
        self._end_callbacks: list[Callable[[RoomEnd], Any]] = []
        self.stats = LobbyStats()  # counters for /metrics and the admin page
        self._ending: dict[str, str] = {}  # room id -> why end_room stops it
        self.add_end_callback(self.stats.room_ended)
        if self.archive is not None:
            self.add_end_callback(self._archive_room)

    @property
    def tokens(self) -> TokenSigner:
        """The signer of this lobby's seat tokens: from its own ``secret=`` when
        given, else from the secret its backend's processes share (once known),
        else from 32 random bytes drawn for this lobby."""
        if not self.secret_given:
            shared = self.backend.secret
            if shared is not None:
                if self._shared is None or self._shared[0] != shared:
                    self._shared = (shared, TokenSigner(shared))
                return self._shared[1]
        return self._tokens

    # ------------------------------------------------------------------ request handler

    async def startup(self, server: ws.Server) -> None:
        """Start the backend for *server* before the first connection (``ws.asgi``'s
        lifespan startup calls it: a Redis backend connects and joins its cluster);
        otherwise the first connection starts it."""
        await self.backend.start(server)

    def ready(self) -> bool:
        """Whether the lobby takes new players: False while its backend is paused
        (a ``RedisBackend`` that cannot reach Redis); ``/readyz`` asks it."""
        return not self.backend.paused

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
        key: LobbyKey | None = None
        if token is None and watch is None:
            mode = self.mode(request) if self.mode is not None else None
            if new_code:
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
            key = LobbyKey(request.path, mode, code)
        # Before the upgrade, so that the hook can refuse with ws.HTTPError(400).
        rating = float(self.rating(request)) if self.rating is not None and key is not None else None
        sock = ws.accept(request, **self._endpoint_options)
        try:
            await self.backend.start(request.server)
            if self.archive is not None:
                await self.archive.start()
            if token is not None:
                await self._resume(sock, token)
            elif watch is not None:
                await self._watch(sock, watch)
            elif key is not None:  # (always, when neither token nor watch)
                if code is not None and not new_code and not await self.backend.has_key(self, key):
                    await self._refuse(sock, Refusal("unknown_room", f"no private room with code {code}"))
                else:
                    # Returned, not held in its frame: a seated player's task keeps only what it needs.
                    match = await self._wait_for_match(request, sock, identity, key, rating)
                    if isinstance(match, Seated):
                        await self._hold(match.room, sock)
                    elif match is not None:
                        await self.backend.relay(match.handle)
        except ws.Closed:
            pass
        finally:
            await _drain_close(sock)
        return None

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

    async def _refuse(self, sock: ws.MessageSocket, refusal: Refusal) -> None:
        sock.text(encode_text(wire.error(refusal.error, refusal.detail)))
        await sock.close(CLOSE_CODES[refusal.error], refusal.detail[:100])

    # ------------------------------------------------------------------ waiting

    async def _wait_for_match(
        self, request: ws.Request, sock: ws.MessageSocket, identity: Any, key: LobbyKey, rating: float | None
    ) -> Match | None:
        """Queue the player until matched (``None``: it left, timed out or the server is closing)."""
        backend = self.backend
        entrant = Entrant(sock, identity, request)
        spread = 0.0
        if rating is None and self.ratings is not None:
            assert self.archive is not None  # (ratings need an archive: checked in __init__)
            rating, spread = await self.archive.matching_rating(self.name, key.mode, identity, self.ratings)
        ticket = Ticket(secrets.token_hex(8), key, time.monotonic(), rating, entrant, spread)
        self.stats.saw_mode(key.mode)
        left = asyncio.get_running_loop().create_future()

        def on_close(_: ws.MessageSocket) -> None:
            backend.leave(ticket)
            if not left.done():
                left.set_result(None)

        def on_shutdown(_: ws.Server) -> None:
            on_close(sock)  # out of the queue at once: no new match while the server drains
            if sock.closed:  # closing already (its close callbacks run once the peer answers)
                return
            sock.text(encode_text(wire.error(_SHUTTING_DOWN.error, _SHUTTING_DOWN.detail)))
            sock.close(CLOSE_CODES[_SHUTTING_DOWN.error], "server shutting down")

        server = request.server
        if server is not None and server.closing:  # (arrived as the server began to close)
            await self._refuse(sock, _SHUTTING_DOWN)
            return None
        sock.add_close_callback(on_close)
        if server is not None:
            server.add_close_callback(on_shutdown)
        try:
            await backend.queue(self, ticket)
            done, _ = await asyncio.wait([entrant.matched, left], timeout=self.max_wait, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                if await backend.withdraw(ticket):
                    await self._refuse(sock, Refusal("lobby_timeout", f"no match within {self.max_wait:g} s"))
                    return None
                if entrant.waiting:  # matched just now, elsewhere: the group is on its way
                    await asyncio.wait([entrant.matched, left], timeout=backend.request_timeout, return_when=asyncio.FIRST_COMPLETED)
            if entrant.waiting:
                return None  # left while waiting
            self.stats.match_waited(time.monotonic() - ticket.joined_at)
            return entrant.matched.result()
        finally:
            sock.remove_close_callback(on_close)
            if server is not None:
                server.remove_close_callback(on_shutdown)
            backend.leave(ticket)

    async def _hold(self, room: Room, sock: ws.MessageSocket) -> None:
        """This connection's task lives until the room ends or the socket goes."""
        # One future and two callbacks: asyncio.wait would cost ~1.5 KB a player.
        gone = asyncio.get_running_loop().create_future()

        def on_close(_: Any) -> None:
            if not gone.done():
                gone.set_result(None)

        sock.add_close_callback(on_close)
        room.ended_future.add_done_callback(on_close)
        try:
            await gone
        finally:
            sock.remove_close_callback(on_close)
            room.ended_future.remove_done_callback(on_close)

    # ------------------------------------------------------------------ seating

    def open_room(self, room_id: str, key: LobbyKey, seats: Sequence[Seat], server: ws.Server) -> Room:
        """Seat *seats* in order in a new room *room_id*, register it with the
        backend and send everyone ``matched``; resolve the entrant of each seat
        that waited here, and start the game in a task owned by *server*.

        The backend calls it on the process that hosts a complete group.
        """
        players = []
        for number, seat in enumerate(seats):
            token, parsed = self.tokens.issue(room_id, number)
            identity = seat.identity
            name: Any = identity.get("name") if isinstance(identity, dict) else str(identity)
            player = Player(number, name, identity, seat.sock, token=token, nonce=parsed.nonce)
            player.where = self.backend.locate(seat.sock)
            players.append(player)
        log = None
        if self.durable is not False:
            seed = secrets.randbits(63)
            seat_meta = tuple(SeatMeta(p.seat, p.name, storable(p.identity), p.nonce, *p.where) for p in players)
            meta = Meta(room_id, self.name, (key.path, key.mode, key.code), seed, seat_meta)
            log = self.backend.open_log(self, meta, required=bool(self.durable))
        room = self._room(room_id, key, players, server, log, seed if log is not None else None)
        self.backend.add_room(self, room)
        everyone = [p.info() for p in players]
        for player in players:
            player.send(wire.matched(room_id, player.seat, player.token, self.reconnect, everyone))
        for seat, player in zip(seats, players, strict=True):
            if seat.entrant is not None:
                seat.entrant.seated(room, player)
        room.task = server.spawn(self._run(room), drain=not self.backend.hands_over(room))
        return room

    def _room(self, room_id: str, key: LobbyKey, players: list[Player], server: ws.Server, log: RoomLog | None, seed: int | None) -> Room:
        return Room(
            room_id,
            players,
            key=key,
            reconnect=self.reconnect,
            on_event=self.on_event,
            on_resume=self.on_resume,
            on_spectate=self.on_spectate,
            is_shutting_down=lambda: server.closing,
            max_buffer=self.max_buffer,
            log=log,
            seed=seed,
            locate=self.backend.locate,
        )

    def adopt_room(self, log: RoomLog, attach: dict[int, Any], on_live: Callable[[Room, bool], Any], server: ws.Server) -> Room:
        """Rebuild a durable room from *log* (its first entry a :class:`Meta`) on
        this process and run its game over the logged inputs, nothing sent, until
        it catches up: then the connections of *attach* (seat -> socket) are
        seated again, ``on_live(room, diverged)`` is called, and the game goes on
        live.  The cluster backend calls it when it adopts a room."""
        meta = log.meta()
        if meta is None:
            raise ValueError("a log without its room: nothing to adopt")
        key = LobbyKey(*meta.key)
        players = []
        for seat in meta.seats:
            player = Player(seat.seat, seat.name, seat.identity, None, nonce=seat.nonce)
            player.where = (seat.edge, seat.conn)
            players.append(player)
        room = self._room(meta.room_id, key, players, server, log, meta.seed)
        room.replay(1, attach, on_live)
        room.task = server.spawn(self._run(room), drain=not self.backend.hands_over(room))
        return room

    async def _run(self, room: Room) -> None:
        code, reason, result = CloseCode.NORMAL_CLOSURE, "game over", None
        try:
            result = await self.game(room)
        except ws.Closed as exc:
            result = _player_left(exc)
        except TurnTimeout as exc:
            # A time-out the game did not handle is still a result, not a crash.
            player = exc.player
            result = {"reason": "flag_fell" if exc.flagged else "timeout", "player": player.info() if isinstance(player, Player) else None}
        except RoomMoved:
            pass  # this process lost the room: another carries it on
        except GameDiverged:
            code, reason = CloseCode.INTERNAL_ERROR, DIVERGED
        except BaseExceptionGroup as errors:
            # A TaskGroup in the game reports a player leaving as a group of Closed.
            closed = closed_in_group(errors)
            if closed is None:
                logger.error("error in game %s of room %s", self.__name__, room.id, exc_info=errors)
                code, reason = CloseCode.INTERNAL_ERROR, "internal error"
            else:
                result = _player_left(closed)
        except asyncio.CancelledError:
            code, reason = CloseCode.GOING_AWAY, "server shutting down"
            detail = self._ending.pop(room.id, None)
            if detail is None:
                # Shutting down: a backend that can hand the room to another process does.
                if not room.moved and not room.ended:
                    self.backend.hand_over(room)
                raise
            # end_room cancelled the game: the room ends, the task does not fail.
            code, reason, result = CloseCode.NORMAL_CLOSURE, "game over", {"reason": OPERATOR_ENDED, "detail": detail}
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except Exception:
            logger.exception("error in game %s of room %s", self.__name__, room.id)
            code, reason = CloseCode.INTERNAL_ERROR, "internal error"
        finally:
            self._ending.pop(room.id, None)
            # A room this process lost (a handover, a lost lease) is not ended here.
            if not room.moved:
                self._room_ended(RoomEnd(self.name, room, result, code, reason, time.time()))
                room.end(result, code, reason)
                self.backend.remove_room(room)
                if code == CloseCode.NORMAL_CLOSURE:
                    self.results.append((room.id, result))

    def add_end_callback(self, callback: Callable[[RoomEnd], Any]) -> None:
        """Call ``callback(end)`` (a :class:`rooms.RoomEnd`) whenever a room of this
        lobby hosted by this process ends, just before its players get ``ended``
        (so what it writes down happened before anyone saw the end).  A plain
        function: it must not block; its exceptions are logged and ignored."""
        self._end_callbacks.append(callback)

    def remove_end_callback(self, callback: Callable[[RoomEnd], Any]) -> None:
        """Stop calling *callback* (``ValueError`` if it was not added)."""
        self._end_callbacks.remove(callback)

    def _room_ended(self, end: RoomEnd) -> None:
        for callback in list(self._end_callbacks):
            try:
                callback(end)
            except Exception:
                logger.exception("error in an end callback of lobby %s for room %s", self.name, end.room.id)

    def _archive_room(self, end: RoomEnd) -> None:
        if self.archive is not None:
            self.archive.record_room(end, ratings=self.ratings, details=self.record)

    # ------------------------------------------------------------------ reconnect and watch

    async def _resume(self, sock: ws.MessageSocket, text: str) -> None:
        token = self.tokens.verify(text)
        if token is None:
            await self._refuse(sock, _INVALID_TOKEN)
            return
        await self._enter(sock, token.room_id, Resume(text))

    async def _watch(self, sock: ws.MessageSocket, room_id: str) -> None:
        if not self.allow_spectators:
            await self._refuse(sock, _NO_RUNNING_ROOM)
            return
        await self._enter(sock, room_id, Watch())

    async def _enter(self, sock: ws.MessageSocket, room_id: str, entry: Entry) -> None:
        """A reconnect or a spectator: to the room here, or bridged to its host."""
        backend = self.backend
        where = await backend.find_room(self, room_id)
        if isinstance(where, Refusal):
            await self._refuse(sock, where)
            return
        if isinstance(where, Elsewhere):
            handle = await backend.request_seat(self, sock, where, entry)
            if isinstance(handle, Refusal):
                await self._refuse(sock, handle)
            else:
                await backend.relay(handle)
            return
        admission = self.admit(room_id, where.room if where is not None else None, entry)
        if isinstance(admission, Refusal):
            await self._refuse(sock, admission)
            return
        await admission.enter(sock)
        await self._hold(admission.room, sock)

    def admit(self, room_id: str, room: Room | None, entry: Entry) -> Admission | Refusal:
        """Whether *entry* may enter room *room_id* (*room* ``None``: not running
        here): a seat token's player takes the seat back, a spectator watches.

        The lobby asks it for connections of its own; on a cluster the room's
        host asks it for players arriving through another process.
        """
        if isinstance(entry, Watch):
            if not self.allow_spectators or room is None or room.ended:
                return _NO_RUNNING_ROOM
            return Admission(room, None)
        if isinstance(entry, Claim):
            return self._claim(room, entry)
        token = self.tokens.verify(entry.token)
        if token is None or token.room_id != room_id:
            return _INVALID_TOKEN
        found = self._check_seat(room, token)
        if isinstance(found, Refusal):
            return found
        self.stats.reconnected()
        return Admission(found[0], found[1])

    def _claim(self, room: Room | None, claim: Claim) -> Admission | Refusal:
        """A player matched into *room* while its process was cut off: the seat
        its ticket was given, with the ``matched`` it never got."""
        if room is None or room.ended:
            return Refusal("unknown_room", "this room is over or unknown")
        for player in room.players:
            if player.where[1] == claim.ticket and not player.gone and self.reconnect:
                token = self.tokens.sign(room.id, player.seat, player.nonce)
                everyone = [p.info() for p in room.players]
                return Admission(room, player, wire.matched(room.id, player.seat, token, self.reconnect, everyone))
        return Refusal("seat_unavailable", "this seat is no longer held")

    def _check_seat(self, room: Room | None, token: SeatToken) -> tuple[Room, Player] | Refusal:
        """The player a verified seat *token* may take back, or why not."""
        if room is None or room.ended:
            return Refusal("unknown_room", "this room is over or unknown")
        if token.seat >= len(room.players):
            return _INVALID_TOKEN
        player = room.players[token.seat]
        if player.nonce != token.nonce:
            return _INVALID_TOKEN
        if player.expired:
            return Refusal("seat_expired", "the grace time for this seat is over")
        if player.gone or not self.reconnect:
            return Refusal("seat_unavailable", "this seat is no longer held")
        return room, player

    # ------------------------------------------------------------------ introspection

    @property
    def rooms(self) -> list[Room]:
        """The rooms running now (on a cluster: hosted by this process)."""
        return self.backend.rooms(self)

    def waiting(self) -> int:
        """How many players are waiting for a match (on a cluster: in this process)."""
        return self.backend.waiting_count(self)

    def room(self, room_id: str) -> Room | None:
        """The running room *room_id* hosted by this process, if any."""
        return next((room for room in self.rooms if room.id == room_id), None)

    def end_room(self, room_id: str, detail: str = "ended by an operator") -> bool:
        """End room *room_id* now (the admin page's "end"): its game is cancelled
        and everyone gets ``ended`` with the result ``{"reason":
        "ended_by_operator", "detail": detail}`` and close 1000.  False if no
        such room runs here."""
        room = self.room(room_id)
        task = room.task if room is not None else None
        if task is None or task.done() or room is None or room.moved:
            return False
        self._ending[room_id] = detail
        task.cancel()
        return True

    def remove_player(self, room_id: str, seat: int, reason: str = "removed by an operator") -> bool:
        """Take seat *seat* of room *room_id* from its player for good (see
        :meth:`rooms.Room.remove`); False if there is no such room or seat here,
        or the player had left."""
        room = self.room(room_id)
        if room is None or not 0 <= seat < len(room.players):
            return False
        return room.remove(room.players[seat], reason)

    def collect_metrics(self, builder: ws.MetricsBuilder) -> None:
        """Add this lobby's metrics to a scrape of ``/metrics`` (:func:`rooms.stats.collect_lobby`)."""
        collect_lobby(self, builder)


_INVALID_TOKEN = Refusal("invalid_token", "invalid seat token")
_SHUTTING_DOWN = Refusal("server_shutdown", "the server is shutting down: join again")
DIVERGED = "room could not be resumed: game is not deterministic"
_NO_RUNNING_ROOM = Refusal("unknown_room", "no running room with this id")


def _player_left(exc: ws.Closed) -> dict[str, Any]:
    """The result of a game that let a player's leaving escape."""
    player = exc.player if isinstance(exc, PlayerLeft) else None
    return {"reason": "player_left", "player": player.info() if player else None}


async def _drain_close(sock: ws.MessageSocket) -> None:
    sock.close(CloseCode.NORMAL_CLOSURE, "")
    await sock.wait_closed()


def lobby(n: int, **options: Any) -> Callable[[Callable[[Room], Awaitable[Any]]], Lobby]:
    """Decorator form: ``@app.route("/chess") @rooms.lobby(2, reconnect=30) async def chess(room): ...``."""

    def decorate(game: Callable[[Room], Awaitable[Any]]) -> Lobby:
        return Lobby(n, game, **options)

    return decorate

