"""``Room``: what a game handler receives, with its players and spectators.

A room reads all its players through one :class:`ws.Mux`, so no task runs per
player.  Disconnects are handled here: the others are told, and with
``reconnect`` the seat is held for a grace time; a player who is gone for good
reaches the game as :class:`rooms.PlayerLeft`, a :class:`ws.Closed` naming
them (``exc.player``).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

import ws
from ws.closecodes import CloseCode

from . import codec, wire
from .exceptions import CLOSE_CODES, DecodeError, PlayerLeft, TurnTimeout
from .matching import LobbyKey
from .turns import Clock

__all__ = ["Player", "Spectator", "Room", "RoomEvent"]

logger = logging.getLogger("rooms")


@attrs.define(slots=True, eq=False)
class Player:
    """A seated player.  ``seat`` is stable (0 is the first seated); ``sock`` is the
    current connection, ``None`` while the player is away and the seat is held."""

    seat: int
    name: str
    identity: Any
    sock: ws.WebSocket | None = attrs.field(repr=False)
    token: str = attrs.field(default="", repr=False)
    nonce: str = attrs.field(default="", repr=False)
    gone: bool = False
    expired: bool = False  # gone because the grace time ran out
    last_sock: ws.WebSocket | None = attrs.field(default=None, repr=False)  # the connection that went away
    away_since: float | None = None
    _grace: asyncio.TimerHandle | None = attrs.field(default=None, repr=False)

    @property
    def connected(self) -> bool:
        return self.sock is not None and not self.sock.closed

    def send(self, obj: Any) -> bool:
        """Send *obj* as JSON in a text frame; False if the player is away."""
        sock = self.sock
        if sock is None or sock.closed:
            return False
        sock.text(codec.encode_text(obj))
        return True

    def send_data(self, obj: Any) -> bool:
        """Send *obj* as msgpack in a binary frame; False if the player is away."""
        sock = self.sock
        if sock is None or sock.closed:
            return False
        sock.data(codec.encode_data(obj))
        return True

    def info(self) -> dict[str, Any]:
        """What the wire protocol says about a player."""
        return {"seat": self.seat, "name": self.name, "connected": self.connected}


@attrs.define(slots=True, eq=False)
class Spectator:
    """A connection that watches a room: receives broadcasts, cannot act."""

    sock: ws.WebSocket = attrs.field(repr=False)
    name: str = "spectator"

    def send(self, obj: Any) -> bool:
        if self.sock.closed:
            return False
        self.sock.text(codec.encode_text(obj))
        return True


@attrs.frozen(slots=True)
class RoomEvent:
    """A lifecycle event: ``created``, ``joined``, ``left``, ``returned``, ``ended``."""

    kind: str
    room: Room
    player: Player | None = None
    detail: Any = None


class _Wake(Exception):
    """Interrupts the room's mux so the game loop sees a pending event."""


async def _call_hook(hook: Callable[..., Any] | None, *args: Any, default: Any) -> Any:
    """Call an application hook that may be sync or async."""
    if hook is None:
        return default
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


class Room:
    """A running game: seats, spectators, messages and lifecycle.

    ``async for player, message in room`` gives decoded messages (JSON text or
    msgpack data) from seated players; a message that does not decode gets an
    ``error`` reply to its sender and is skipped.
    """

    def __init__(
        self,
        room_id: str,
        players: list[Player],
        *,
        key: LobbyKey | None = None,
        reconnect: float | None = None,
        on_event: Callable[[RoomEvent], Any] | None = None,
        on_resume: Callable[[Room, Player], Any] | None = None,
        on_spectate: Callable[[Room, Spectator], Any] | None = None,
        is_shutting_down: Callable[[], bool] = lambda: False,
        max_buffer: int | None = 2**20,
    ) -> None:
        self.id = room_id
        self.key = key
        # The lobby's key: its mode and private code are public.
        self.mode: Any = key.mode if isinstance(key, LobbyKey) else None
        self.code: str | None = key.code if isinstance(key, LobbyKey) else None
        self.players = players
        self.spectators: list[Spectator] = []
        self.reconnect = reconnect
        self.max_buffer = max_buffer  # a socket with more unsent bytes is dropped (1013)
        self.created_at = time.time()
        self.result: Any = None
        self.ended = False
        self.state: Any = None  # free for the game: e.g. what on_resume sends back
        self._on_event = on_event
        self._on_resume = on_resume
        self._on_spectate = on_spectate
        self._shutting_down = is_shutting_down
        self._loop = asyncio.get_running_loop()
        self._by_sock: dict[ws.MessageSocket, Player | Spectator] = {}
        self._mux: ws.Mux | None = None
        self._done = self._loop.create_future()
        self._pending: collections.deque[BaseException] = collections.deque()
        for player in players:
            if player.sock is not None:
                self._by_sock[player.sock] = player
                self._watch(player.sock)
        self._emit("created")
        for player in players:
            self._emit("joined", player)

    def __repr__(self) -> str:
        return f"<Room {self.id} {[p.name for p in self.players]}>"

    # ------------------------------------------------------------------ sending

    def broadcast(self, obj: Any, *, binary: bool = False, spectators: bool = True, exclude: Iterable[Player] = ()) -> int:
        """Send *obj* to every connected player (and spectator): encoded once, one
        frame written to every socket.  Returns how many sockets got it."""
        payload: str | bytes = codec.encode_data(obj) if binary else codec.encode_text(obj)
        skip = set(map(id, exclude))
        socks = [p.sock for p in self.players if p.sock is not None and id(p) not in skip]
        if spectators:
            socks.extend(s.sock for s in self.spectators)
        return ws.broadcast(socks, payload, max_buffer=self.max_buffer)

    def player(self, seat: int) -> Player:
        return self.players[seat]

    def others(self, player: Player) -> list[Player]:
        return [p for p in self.players if p is not player]

    # ------------------------------------------------------------------ receiving

    def _ensure_mux(self) -> ws.Mux:
        if self._mux is None:
            socks = [p.sock for p in self.players if p.sock is not None and not p.gone]
            socks += [s.sock for s in self.spectators]
            if not socks:
                raise ws.Closed(code=CloseCode.ABNORMAL_CLOSURE, reason="no players left")
            self._mux = ws.mux(*socks)
        return self._mux

    async def receive(self) -> tuple[Player, Any]:
        """The next decoded message from a seated player.

        Raises :class:`PlayerLeft` (a :class:`ws.Closed`) with ``exc.player`` when
        a player has left for good (no reconnect, a deliberate close, or the
        grace time ran out).
        """
        while True:
            if self._pending:
                raise self._pending.popleft()
            mux = self._ensure_mux()
            try:
                sock, raw = await mux
            except _Wake:
                continue
            except ws.Closed as exc:
                self._sock_gone(exc.socket)  # the pending Closed, if any, is raised above
                continue
            who = self._by_sock.get(sock)
            if isinstance(who, Spectator):
                who.send(wire.error("spectator", "spectators cannot act"))
                continue
            if who is None or who.sock is not sock:
                continue  # a socket replaced by a reconnect
            try:
                return who, codec.decode(raw)
            except DecodeError as err:
                who.send(wire.error("bad_message", str(err)))

    def __aiter__(self) -> Room:
        return self

    async def __anext__(self) -> tuple[Player, Any]:
        return await self.receive()

    async def turn(
        self,
        player: Player,
        *,
        timeout: float | None = None,
        clock: Clock | None = None,
        validate: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """Wait for *player*'s move; messages from others get a ``not_your_turn`` error.

        *validate(message)* returns a reason when the move is illegal: the player
        gets an ``illegal_move`` error and the turn goes on.  With *clock*, the
        clock runs while waiting and its increment is added after a valid move;
        when it runs out, or *timeout* passes, :class:`TurnTimeout`.
        """
        if player.gone:
            raise self._gone_error(player, "player has left")
        limit = timeout
        if clock is not None:
            clock.start()
            limit = clock.remaining if limit is None else min(limit, clock.remaining)
        moved = False
        try:
            async with asyncio.timeout(limit):
                while True:
                    who, message = await self.receive()
                    if who is not player:
                        who.send(wire.error("not_your_turn", f"it is {player.name}'s turn"))
                        continue
                    problem = validate(message) if validate is not None else None
                    if problem:
                        who.send(wire.error("illegal_move", str(problem)))
                        continue
                    moved = True
                    return message
        except TimeoutError:
            flagged = clock is not None and clock.remaining <= 0
            if clock is not None:
                clock.flagged = flagged
            raise TurnTimeout(player, flagged=flagged) from None
        finally:
            if clock is not None:
                clock.stop(increment=moved)

    # ------------------------------------------------------------------ comings and goings

    def _watch(self, sock: ws.WebSocket) -> None:
        """Notice *sock* closing at once, whether or not the game is reading."""
        sock.add_close_callback(self._sock_gone)

    def _sock_gone(self, sock: ws.WebSocket) -> None:
        """A player's or spectator's connection ended (idempotent)."""
        who = self._by_sock.pop(sock, None)
        if self._mux is not None:
            self._mux.discard(sock)
        if isinstance(who, Spectator):
            if who in self.spectators:
                self.spectators.remove(who)
            return
        if who is None or who.sock is not sock or self.ended:
            return  # replaced by a reconnect already, or the game is over
        player = who
        player.sock = None
        player.last_sock = sock
        code = sock.close_code if sock.close_code is not None else CloseCode.ABNORMAL_CLOSURE
        # A client closing with 1000 leaves on purpose; anything else (a reload
        # sends 1001, a lost network gives 1006) holds the seat when allowed.
        if self.reconnect and code != CloseCode.NORMAL_CLOSURE and not self._shutting_down():
            player.away_since = time.monotonic()
            player._grace = self._loop.call_later(self.reconnect, self._expire, player)
            self.broadcast(wire.player_left(player.info(), self.reconnect))
            self._emit("left", player, code)
            return
        self._leave_for_good(player, code, sock.close_reason or "player left")

    def _gone_error(self, player: Player, reason: str, code: int = CloseCode.ABNORMAL_CLOSURE) -> PlayerLeft:
        return PlayerLeft(player, code=code, reason=reason, socket=player.last_sock)

    def _leave_for_good(self, player: Player, code: int | str, reason: str) -> None:
        """Tell everyone, and queue the seed's Closed naming *player* for the game."""
        player.gone = True
        self.broadcast(wire.player_left(player.info(), None))
        self._emit("left", player, code)
        self._pending.append(self._gone_error(player, reason, code if isinstance(code, int) else CloseCode.ABNORMAL_CLOSURE))
        if self._mux is not None:
            self._mux.interrupt(_Wake())

    def _expire(self, player: Player) -> None:
        """The grace time is over: the game sees the player leave."""
        player._grace = None
        if player.sock is None and not self.ended and not player.gone:
            player.expired = True
            self._leave_for_good(player, "expired", "seat expired")

    async def resume(self, player: Player, sock: ws.WebSocket) -> None:
        """Give *player*'s seat to a new connection (a reconnect with the seat token)."""
        if player._grace is not None:
            player._grace.cancel()
            player._grace = None
        old = player.sock
        player.sock = sock
        player.away_since = None
        self._by_sock[sock] = player
        self._watch(sock)
        if old is not None and old is not sock:
            self._by_sock.pop(old, None)
            if self._mux is not None:
                self._mux.discard(old)
            old.text(codec.encode_text(wire.error("replaced", "this seat was taken by a new connection")))
            old.close(CLOSE_CODES["replaced"], "replaced by a new connection")
        if self._mux is not None:
            self._mux.add(sock)
        state = await _call_hook(self._on_resume, self, player, default=self.state)
        player.send(wire.resumed(self.id, player.seat, [p.info() for p in self.players], state))
        self.broadcast(wire.player_returned(player.info()), exclude=[player])
        self._emit("returned", player)

    def remove(self, player: Player, reason: str = "removed by an operator") -> bool:
        """Take *player*'s seat away for good (the admin page's "remove"): they get
        an ``error`` ``removed`` and close 1000 (their seat is not held), and the
        game sees them leave (:class:`PlayerLeft`).  False if they had left already."""
        if player.gone or self.ended:
            return False
        if player._grace is not None:
            player._grace.cancel()
            player._grace = None
        sock = player.sock
        if sock is not None:
            self._by_sock.pop(sock, None)
            if self._mux is not None:
                self._mux.discard(sock)
            player.sock, player.last_sock = None, sock
            if not sock.closed:
                sock.text(codec.encode_text(wire.error("removed", reason)))
                sock.close(CloseCode.NORMAL_CLOSURE, reason[:100])
        self._leave_for_good(player, CloseCode.NORMAL_CLOSURE, reason)
        return True

    async def add_spectator(self, spectator: Spectator) -> None:
        """Let *spectator* watch: it gets the current state (``on_spectate``) and broadcasts."""
        self.spectators.append(spectator)
        self._by_sock[spectator.sock] = spectator
        self._watch(spectator.sock)
        if self._mux is not None:
            self._mux.add(spectator.sock)
        state = await _call_hook(self._on_spectate, self, spectator, default=self.state)
        spectator.send(wire.spectating(self.id, [p.info() for p in self.players], state))

    # ------------------------------------------------------------------ ending

    def _emit(self, kind: str, player: Player | None = None, detail: Any = None) -> None:
        if self._on_event is not None:
            try:
                self._on_event(RoomEvent(kind, self, player, detail))
            except Exception:
                logger.exception("error in on_event hook for room %s", self.id)

    def end(self, result: Any, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "game over") -> None:
        """End the room: record *result*, send everyone ``ended``, close every
        socket with *code* and *reason*.  The lobby calls it when the game is
        over (1000 with its result; 1011 after an error, 1001 at shutdown, with
        ``result`` ``None``); later calls do nothing."""
        if self.ended:
            return
        self.ended = True
        self.result = result
        for player in self.players:
            if player._grace is not None:
                player._grace.cancel()
                player._grace = None
        self.broadcast(wire.ended(self.id, result) if code == CloseCode.NORMAL_CLOSURE else wire.ended(self.id, error=reason))
        if self._mux is not None:
            self._mux.close()
        for sock in [p.sock for p in self.players if p.sock is not None] + [s.sock for s in self.spectators]:
            sock.close(code, reason)
        self._emit("ended", None, result)
        if not self._done.done():
            self._done.set_result(result)

    async def wait_ended(self) -> Any:
        """Wait until the game is over; return its result."""
        return await asyncio.shield(self._done)

    @property
    def ended_future(self) -> asyncio.Future[Any]:
        """A future resolved with the result when the room ends, to wait on next
        to others (``asyncio.wait``) without a task.  Shared: never cancel it."""
        return self._done
