"""``Room``: what a game handler receives, with its players and spectators.

A room reads all its players through one :class:`ws.Mux`, so no task runs per
player.  Disconnects are handled here: the others are told, and with
``reconnect`` the seat is held for a grace time; a player who is gone for good
reaches the game as :class:`rooms.PlayerLeft`, a :class:`ws.Closed` naming
them (``exc.player``).

A durable room (:mod:`rooms.log`) logs what its game consumes before the game
sees it and gives it time and randomness (``room.clock()``, ``room.now()``,
``room.random``): it can be rebuilt elsewhere from its log (:mod:`rooms.replay`)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import ws
from ws.closecodes import CloseCode

from . import codec, wire
from .exceptions import CLOSE_CODES, DecodeError, PlayerLeft, RoomMoved
from .hooks import call_hook, in_background
from .log import Kind, RoomLog
from .matching import LobbyKey
from .replay import Journal
from .seats import REPLAY_SEAT, Player, RoomEvent, Spectator
from .turns import Clock, take_turn

__all__ = ["Player", "Spectator", "Room", "RoomEvent"]

logger = logging.getLogger("rooms")


class _Wake(Exception):
    """Interrupts the room's mux so the game loop sees a pending event."""


class Room:
    """A running game: seats, spectators, messages and lifecycle.

    ``async for player, message in room`` gives decoded messages (JSON text or
    msgpack data) from seated players; a message that does not decode gets an
    ``error`` reply to its sender and is skipped.
    """

    # Slots (a __dict__ is made only if a game sets attributes of its own): 1 KB less a room.
    __slots__ = ("id", "key", "mode", "code", "players", "spectators", "reconnect", "max_buffer", "created_at", "result", "ended", "state", "seed", "task", "moved",
                 "_random", "_t0", "_base", "_journal", "_unread", "_attach", "_live_hook", "_locate", "_wakeup", "_hooking", "_on_event", "_on_resume", "_on_spectate",
                 "_shutting_down", "_loop", "_by_sock", "_mux", "_done", "_pending", "__dict__", "__weakref__")

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
        log: RoomLog | None = None,
        seed: int | None = None,
        locate: Callable[[Any], tuple[str, str]] = lambda sock: ("", ""),
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
        self.seed = secrets.randbits(63) if seed is None else seed
        self._random: random.Random | None = None  # made on first use: 2.5 KB of generator state
        self.task: asyncio.Task[Any] | None = None  # the game's task (set by the lobby)
        self.moved = False  # this process stopped its copy: another carries the room on
        self._t0 = time.monotonic()  # the room clock reads (monotonic - _t0) + _base
        self._base = 0.0
        self._journal = Journal(log, room_id) if log is not None else None
        self._unread: list[list[Any]] = []  # logged, not yet seen by the game (lists: a room holds
        self._attach: dict[int, Any] = {}
        self._live_hook: Callable[[Room, bool], Any] | None = None
        self._locate = locate
        self._wakeup: asyncio.Future[None] | None = None
        self._hooking = False  # calling a hook from the game's task (going live): not the game
        self._on_event = on_event
        self._on_resume = on_resume
        self._on_spectate = on_spectate
        self._shutting_down = is_shutting_down
        self._loop = asyncio.get_running_loop()
        self._by_sock: dict[ws.MessageSocket, Player | Spectator] = {}
        self._mux: ws.Mux | None = None
        self._done = self._loop.create_future()
        self._pending: list[BaseException] = []  # thousands, and these are rarely more than empty)
        for player in players:
            if self._journal is not None:
                player.tap = self._output
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
        if self._journal is not None and not self._output("*", payload):
            return sum(1 for p in self.players if p.sock is not None)  # replaying: not sent
        return self._send_all(payload, spectators=spectators, exclude=exclude)

    def _send_all(self, payload: str | bytes, *, spectators: bool = True, exclude: Iterable[Player] = ()) -> int:
        """Write *payload* to every connected player (and spectator): the room's own messages."""
        skip = set(map(id, exclude))
        socks = [p.sock for p in self.players if p.sock is not None and id(p) not in skip]
        if spectators:
            socks.extend(s.sock for s in self.spectators)
        return ws.broadcast(socks, payload, max_buffer=self.max_buffer)

    def _output(self, target: str, payload: str | bytes) -> bool:
        """Whether to send: the game's outputs are logged (live) or compared (replaying)."""
        journal = self._journal
        if journal is None:
            return True
        if not self._in_game():
            return not journal.replaying and not self.moved
        return journal.output(target, payload)

    def _in_game(self) -> bool:
        """True in the game's own task: only what it does is logged or compared (and
        nothing once the room moved: the game's clean-up must not write or send)."""
        return self.task is not None and asyncio.current_task() is self.task and not self._hooking and not self.moved

    # ------------------------------------------------------------------ time and randomness

    def _live_clock(self) -> float:
        return self._base + (time.monotonic() - self._t0)

    def clock(self) -> float:
        """The room's clock: seconds since the room opened, monotonic, the same on
        a replay; the time a room spends moving between processes is not on it."""
        journal = self._journal
        if journal is None or not self._in_game():
            return self._live_clock() if journal is None or not journal.replaying else journal.last_clock
        return journal.reading(Kind.CLOCK, self._live_clock)

    def now(self) -> float:
        """Wall-clock time (``time.time()``) as the game must read it: the same on a replay."""
        journal = self._journal
        if journal is None or not self._in_game():
            return time.time()
        return journal.reading(Kind.WALL, time.time)

    @property
    def random(self) -> random.Random:
        """The game's randomness, seeded by ``seed``: the same draws on a replay."""
        if self._random is None:
            self._random = random.Random(self.seed)
        return self._random

    @property
    def log(self) -> RoomLog | None:
        """The room's input log (``None``: the room keeps none)."""
        return self._journal.log if self._journal is not None else None

    @property
    def replaying(self) -> bool:
        """True while the room is being rebuilt from its log (nothing is sent)."""
        return self._journal is not None and self._journal.replaying

    def mark(self) -> None:
        """Log the room clock now (the lease loop does, so an outage is not charged)."""
        if self._journal is not None and not self.ended and not self.moved:
            self._journal.mark(self._live_clock())

    def player(self, seat: int) -> Player:
        return self.players[seat]  # (seats are numbered from 0 in the order of matching)

    def others(self, player: Player) -> list[Player]:
        return [p for p in self.players if p is not player]

    # ------------------------------------------------------------------ receiving

    def _ensure_mux(self) -> ws.Mux | None:
        """The mux of every connection; ``None`` while a durable room has nobody
        connected but seats held (it waits for a return)."""
        if self._mux is None:
            socks = [p.sock for p in self.players if p.sock is not None and not p.gone]
            socks += [s.sock for s in self.spectators]
            if not socks:
                if self._journal is None or all(p.gone for p in self.players):
                    raise ws.Closed(code=CloseCode.ABNORMAL_CLOSURE, reason="no players left")
                return None
            self._mux = ws.mux(*socks)
        return self._mux

    async def _idle(self, deadline: float | None) -> None:
        """Nobody is connected: wait for a return, a departure or *deadline*."""
        self._wakeup = self._loop.create_future()
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError
        try:
            async with asyncio.timeout(left):
                await self._wakeup
        finally:
            self._wakeup = None

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def receive(self, timeout: float | None = None) -> tuple[Player, Any]:
        """The next decoded message from a seated player.

        Raises :class:`PlayerLeft` (a :class:`ws.Closed`) with ``exc.player`` when
        a player has left for good (no reconnect, a deliberate close, or the
        grace time ran out); ``TimeoutError`` when *timeout* seconds pass first
        (a game that must be resumable waits this way, not with
        ``asyncio.timeout``: the time-out is logged like a message).
        """
        journal = self._journal
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.moved:
                raise RoomMoved(self.id)
            if self._unread:  # logged before anything pending: the game sees it first
                got = self._entry_result(self._unread.pop(0))
                if got is not None:
                    return got
                continue
            if self._pending:
                if journal is not None and not journal.replaying:
                    await journal.log.flush()
                raise self._pending.pop(0)
            if journal is not None and journal.replaying:
                entry = journal.next_input()
                if entry is not None:
                    got = self._entry_result(entry)
                    if got is not None:
                        return got
                continue
            mux = self._ensure_mux()
            try:
                if mux is None:
                    await self._idle(deadline)
                    continue
                if deadline is None:
                    sock, raw = await mux
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    async with asyncio.timeout(left):
                        sock, raw = await mux
            except _Wake:
                continue
            except ws.Closed as exc:
                self._sock_gone(exc.socket)  # the pending Closed, if any, is raised above
                continue
            except TimeoutError:
                if journal is None:
                    raise
                await self._commit([Kind.TIMEOUT.value])
                continue
            who = self._by_sock.get(sock)
            if isinstance(who, Spectator):
                _reply(sock, wire.error("spectator", "spectators cannot act"))
                continue
            if who is None or who.sock is not sock:
                continue  # a socket replaced by a reconnect
            try:
                message = codec.decode(raw)
            except DecodeError as err:
                _reply(sock, wire.error("bad_message", str(err)))
                continue
            if journal is None:
                return who, message
            await self._commit([Kind.MESSAGE.value, who.seat, message])

    def _entry_result(self, entry: list[Any]) -> tuple[Player, Any] | None:
        """A logged input's message, or ``TimeoutError``; ``None`` for a presence change."""
        kind = entry[0]
        if kind == Kind.MESSAGE.value:
            return self.players[entry[1]], entry[2]
        if kind == Kind.TIMEOUT.value:
            raise TimeoutError
        return None

    async def _commit(self, entry: list[Any]) -> None:
        """Log an input, durably; the next receive gives it to the game (logged means seen)."""
        assert self._journal is not None
        self._unread.append(entry)
        await self._journal.log.commit(entry)

    def __aiter__(self) -> Room:
        return self

    async def __anext__(self) -> tuple[Player, Any]:
        return await self.receive()

    async def turn(
        self, player: Player, *, timeout: float | None = None, clock: Clock | None = None, validate: Callable[[Any], str | None] | None = None
    ) -> Any:
        """Wait for *player*'s move (others get ``not_your_turn``; a reason from
        *validate(message)* gives ``illegal_move`` and the turn goes on); *clock*
        runs meanwhile, its increment added after a valid move; :class:`TurnTimeout`
        when it runs out or *timeout* passes (:func:`rooms.turns.take_turn`)."""
        return await take_turn(self, player, timeout=timeout, clock=clock, validate=validate)

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
        if who is None or who.sock is not sock or self.ended or self.moved:
            return  # replaced by a reconnect already, or the game is over (here)
        player = who
        player.sock = None
        player.last_sock = sock
        code = sock.close_code if sock.close_code is not None else CloseCode.ABNORMAL_CLOSURE
        # A client closing with 1000 leaves on purpose; anything else (a reload
        # sends 1001, a lost network gives 1006) holds the seat when allowed.
        if self.reconnect and code != CloseCode.NORMAL_CLOSURE and not self._shutting_down():
            player.away_since = time.monotonic()
            player.grace = self._loop.call_later(self.reconnect, self._expire, player)
            self._record([Kind.AWAY.value, player.seat])
            self._send_all(codec.encode_text(wire.player_left(player.info(), self.reconnect)))
            self._emit("left", player, code)
            return
        self._leave_for_good(player, code, sock.close_reason or "player left")

    def _record(self, entry: list[Any]) -> None:
        if self._journal is not None and not self._journal.replaying:
            self._journal.log.record(entry)

    def _leave_for_good(self, player: Player, code: int | str, reason: str) -> None:
        """Tell everyone, and queue the seed's Closed naming *player* for the game."""
        player.gone = True
        number = code if isinstance(code, int) else CloseCode.ABNORMAL_CLOSURE
        self._record([Kind.GONE.value, player.seat, number, reason, player.expired])
        self._send_all(codec.encode_text(wire.player_left(player.info(), None)))
        self._emit("left", player, code)
        self._pending.append(PlayerLeft(player, code=number, reason=reason, socket=player.last_sock))
        self._wake()
        if self._mux is not None:
            self._mux.interrupt(_Wake())

    def _expire(self, player: Player) -> None:
        """The grace time is over: the game sees the player leave."""
        player.grace = None
        if player.sock is None and not self.ended and not player.gone:
            player.expired = True
            self._leave_for_good(player, "expired", "seat expired")

    async def resume(self, player: Player, sock: ws.WebSocket) -> None:
        """Give *player*'s seat to a new connection (a reconnect with the seat token).

        In a durable room the seat decision is logged first (on a cluster, fenced
        by the room's lease: :class:`RoomMoved` if this process lost it)."""
        if self._journal is not None:
            edge, conn = self._locate(sock)
            await self._journal.log.commit([Kind.BACK.value, player.seat, edge, conn])
            player.where = (edge, conn)
        if self.moved or self.ended:
            raise RoomMoved(self.id) if self.moved else ws.Closed(code=CloseCode.NORMAL_CLOSURE, reason="game over")
        player.cancel_grace()
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
        self._wake()
        state = await call_hook(self._on_resume, self, player, default=self.state)
        player.send(wire.resumed(self.id, player.seat, [p.info() for p in self.players], state))
        self._send_all(codec.encode_text(wire.player_returned(player.info())), exclude=[player])
        self._emit("returned", player)

    def remove(self, player: Player, reason: str = "removed by an operator") -> bool:
        """Take *player*'s seat away for good (the admin page's "remove"): they get
        an ``error`` ``removed`` and close 1000 (their seat is not held), and the
        game sees them leave (:class:`PlayerLeft`).  False if they had left already."""
        if player.gone or self.ended:
            return False
        player.cancel_grace()
        sock = player.sock
        if sock is not None:
            self._by_sock.pop(sock, None)
            if self._mux is not None:
                self._mux.discard(sock)
            player.sock, player.last_sock = None, sock
            _reply(sock, wire.error("removed", reason))
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
        state = await call_hook(self._on_spectate, self, spectator, default=self.state)
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
        if self.ended or self.moved:
            return
        if self._journal is not None:
            self._journal.go_live()
        self.ended = True
        self.result = result
        for player in self.players:
            player.cancel_grace()
        self._send_all(codec.encode_text(wire.ended(self.id, result) if code == CloseCode.NORMAL_CLOSURE else wire.ended(self.id, error=reason)))
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

    # ------------------------------------------------------------------ moving between processes

    def stop(self) -> None:
        """This process no longer hosts the room (lease lost, handed over): stop, send nothing."""
        if self.moved or self.ended:
            return
        self.moved = True
        for player in self.players:
            player.cancel_grace()
        if self._mux is not None:
            self._mux.close()
        task = self.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if not self._done.done():
            self._done.set_result(None)

    def replay(self, first: int, attach: dict[int, Any], on_live: Callable[[Room, bool], Any]) -> None:
        """Rebuild this room from its log (entries from index *first* on) before
        its game starts: seats present in the log stand for connections that
        nothing reaches, until the replay ends; then the players of *attach*
        (seat -> socket) are connected again and get ``resumed``, the others'
        seats are held, and ``on_live(room, diverged)`` is called first."""
        assert self._journal is not None
        self._attach = attach
        self._live_hook = on_live
        self._journal = journal = Journal(self._journal.log, self.id, replay_from=first, apply=self._apply, on_live=self._go_live)
        for player in self.players:
            player.sock = REPLAY_SEAT  # everyone was seated: the log says who went
        self._by_sock.clear()
        journal.log.written()  # the replayed entries are durable already

    def _apply(self, entry: list[Any]) -> None:
        """A logged presence change, replayed."""
        kind, player = entry[0], self.players[entry[1]]
        if kind == Kind.AWAY.value:
            player.sock = None
        elif kind == Kind.BACK.value:
            player.sock = REPLAY_SEAT
            player.where = (entry[2], entry[3])
        elif kind == Kind.GONE.value:
            player.sock = None
            player.gone = True
            player.expired = bool(entry[4])
            self._pending.append(PlayerLeft(player, code=int(entry[2]), reason=entry[3], socket=player.last_sock))

    def _go_live(self, diverged: bool) -> None:
        """The replay is over: from here on the room runs for real."""
        assert self._journal is not None
        self._base, self._t0 = self._journal.last_clock, time.monotonic()
        if self._live_hook is not None:
            self._live_hook(self, diverged)
        returning = []
        for player in self.players:
            if player.gone:
                continue
            sock = self._attach.pop(player.seat, None) if player.sock is REPLAY_SEAT else None
            if sock is not None:
                player.sock = sock
                self._by_sock[sock] = player
                self._watch(sock)
                returning.append(player)
                continue
            was_here = player.sock is REPLAY_SEAT
            player.sock = None
            if diverged:
                continue
            if was_here:
                self._record([Kind.AWAY.value, player.seat])
            if self.reconnect:
                player.away_since = time.monotonic()
                player.grace = self._loop.call_later(self.reconnect, self._expire, player)
            else:
                self._leave_for_good(player, CloseCode.ABNORMAL_CLOSURE, "connection lost while the room moved")
        for sock in self._attach.values():
            sock.close(CloseCode.NORMAL_CLOSURE, "no longer seated")
        self._attach = {}
        if diverged:
            return
        for player in returning:
            self._resumed(player)

    def _resumed(self, player: Player) -> None:
        """Tell a player whose room moved to this process where the game stands."""
        self._hooking = True
        try:
            value = self._on_resume(self, player) if self._on_resume is not None else self.state
        finally:
            self._hooking = False

        def send(state: Any) -> None:
            if player.sock is not None and not player.sock.closed:
                player.sock.text(codec.encode_text(wire.resumed(self.id, player.seat, [p.info() for p in self.players], state)))

        if inspect.isawaitable(value):

            async def later() -> None:
                send(await value)

            in_background(later(), f"on_resume hook for room {self.id}")
        else:
            send(value)


def _reply(sock: Any, obj: Any) -> None:  # the room's own answer to a connection: never logged
    if not sock.closed:
        sock.text(codec.encode_text(obj))
