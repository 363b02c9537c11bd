"""The chess example on ``rooms``: a lobby per time control, a game per room.

Mounted by :func:`mount` (``examples/server.py`` calls it)::

    /chess/            the page (static files next to this module)
    /chess/ws          the lobby: ?name=, ?mode=<time control> (3+2, 5+0, 10+0),
                       ?code=new | ?code=XXXXXX for a private game (the code alone
                       finds it: a friend's ?mode= is ignored), ?token= to take a
                       seat back, ?watch=<room id> to spectate
    /chess/config      JSON: the time controls and the reconnect grace time
    /chess/pgn/{room}  the PGN of a finished room (text/plain)

The wire protocol, on top of the rooms messages of docs/protocol.md, is
docs/games.md#chess (the contract; tests/examples/test_protocol_doc.py replays
its example exchange).  In short:

client -> server
    {"type": "move", "uci": "e2e4"}   or {"type": "move", "san": "Nf3"}
    {"type": "resign"} {"type": "offer_draw"} {"type": "accept_draw"} {"type": "decline_draw"}
    {"type": "rematch"}   after a game: play again, colours swapped
    {"type": "leave"}     after a game: no rematch, end the room
server -> clients (players and spectators)
    {"type": "start", "game": n, "state": S}         a game begins
    {"type": "move", "move": {uci, san, color}, "state": S}
    {"type": "draw_offer", "by": "white"} {"type": "draw_declined", "by": "black"}
    {"type": "game_over", "outcome": {result, reason, winner}, "pgn": "...", "state": S}
    {"type": "rematch_offer", "by": "white"}
    {"type": "error", "error": "illegal_move" | "not_your_turn" | "bad_message" | "game_over", "detail": "..."}

S is the full state (:meth:`Table.snapshot`): FEN, SAN and UCI move lists,
clocks (seconds left, and which one is running: none before White's first
move), colours with seats and names, a draw offer, the outcome.  ``resumed``
and ``spectating`` carry S too, so a reload or a late spectator sees the same
board and clocks.

The room's result (and ``ended``'s) is ``{"pgn": ..., "outcome": ..., "games": n}``:
the PGN of every game played in the room, one after the other.
"""

from __future__ import annotations

import datetime
import inspect
import pathlib
import random
from collections.abc import Mapping
from typing import Any

import chess

import rooms
import ws

from .game import ChessGame, IllegalMove, TimeControl, color_name

__all__ = ["mount", "DEFAULT_TIME_CONTROLS", "PRIVATE", "Table"]

STATIC = pathlib.Path(__file__).parent / "static"
DEFAULT_TIME_CONTROLS = ("3+2", "5+0", "10+0")
PRIVATE = "private"  # the lobby mode of every private game: its code alone finds it
MAX_NAME = 32  # as the lobby trims ?name=
MOVE_SHAPE = 'a move is {"type": "move", "uci": "e2e4"} (UCI: from and to squares, e7e8q to promote) or {"type": "move", "san": "Nf3"}; this one has neither a "uci" nor a "san" key'



class Table:
    """A room's chess table: who plays which colour, the current game, past PGNs.

    Kept in ``room.state`` so the lobby's ``on_resume``/``on_spectate`` hooks can
    send the whole state back to a returning player or a late spectator.
    """

    def __init__(self, room: rooms.Room, time_control: TimeControl, rng: random.Random | None = None) -> None:
        self.room = room
        self.time_control = time_control
        first, second = room.players
        # The room's randomness (unless a test gives its own): the same on a replay.
        if (rng or room.random).random() < 0.5:
            first, second = second, first
        self.seats: dict[chess.Color, rooms.Player] = {chess.WHITE: first, chess.BLACK: second}
        self.game: ChessGame | None = None
        self.pgns: list[str] = []
        self.finished: list[ChessGame] = []  # the games played, for the archive's record
        self.rematch: set[chess.Color] = set()
        self.abort_at = 0.0  # room.clock() when the game is aborted if White has not moved

    def color_of(self, player: rooms.Player) -> chess.Color:
        return chess.WHITE if self.seats[chess.WHITE] is player else chess.BLACK

    def new_game(self) -> ChessGame:
        if self.game is not None:  # a rematch: swap colours
            self.seats = {chess.WHITE: self.seats[chess.BLACK], chess.BLACK: self.seats[chess.WHITE]}
        self.rematch = set()
        self.game = ChessGame(
            self.time_control,
            white=self.seats[chess.WHITE].name,
            black=self.seats[chess.BLACK].name,
            event=f"Casual {self.time_control.name} game",
            now=self.room.clock,  # the room's clock: the same on a replay, and an outage is not charged
            date=datetime.date.fromtimestamp(self.room.now()),
        )
        return self.game

    def snapshot(self) -> dict[str, Any]:
        state = self.game.to_json() if self.game is not None else {}
        state["room"] = self.room.id
        state["game"] = len(self.pgns) + (0 if self.game is None or self.game.over else 1)
        state["colors"] = {color_name(c): {"seat": p.seat, "name": p.name, "connected": p.connected} for c, p in self.seats.items()}
        state["rematch"] = sorted(color_name(c) for c in self.rematch)
        waiting = self.game is not None and not self.game.started
        state["first_move"] = round(max(0.0, self.abort_at - self.room.clock()), 3) if waiting else None
        return state

    def result(self) -> dict[str, Any]:
        game = self.game
        outcome = game.outcome.to_json() if game is not None and game.outcome is not None else None
        return {"pgn": "\n\n".join(self.pgns), "outcome": outcome, "games": len(self.pgns)}


def _snapshot(room: rooms.Room, _who: Any) -> dict[str, Any] | None:
    table = room.state
    return table.snapshot() if isinstance(table, Table) else None


async def _play_one(room: rooms.Room, table: Table, first_move: float) -> None:
    """Run one game until it ends (mate, draw, flag, resignation, abandonment).

    No clock runs until White's first move, as on chess servers: the match is
    not the start of White's thinking time.  White has *first_move* seconds to
    make it, or the game is aborted without a result.
    """
    game = table.game
    assert game is not None
    table.abort_at = room.clock() + first_move
    room.broadcast({"type": "start", "game": len(table.pgns) + 1, "state": table.snapshot()})
    while not game.over:
        # Wake up exactly when the side to move would flag (server-authoritative
        # clock), or before the first move when the game is to be aborted.
        wait = game.remaining(game.turn) if game.started else max(0.0, table.abort_at - room.clock())
        try:
            # Wake up exactly when the side to move would flag, or White's first move is
            # due (server-authoritative, on the room's clock: the same on a replay).
            player, msg = await room.receive(timeout=wait)
        except TimeoutError:
            if not game.started:
                game.abort()
            game.check_flag()
            continue
        except ws.Closed as exc:
            gone = getattr(exc, "player", None)
            if gone is None:
                raise
            game.abandon(table.color_of(gone))
            break
        color = table.color_of(player)
        kind = msg.get("type") if isinstance(msg, dict) else None
        try:
            if kind == "move":
                if "san" in msg and "uci" not in msg:
                    played = game.move(color, msg["san"], notation="san")
                elif "uci" in msg:
                    played = game.move(color, msg["uci"])
                else:
                    player.send({"type": "error", "error": "bad_message", "detail": MOVE_SHAPE})
                    continue
                if not game.started:
                    game.start()  # White's first move starts Black's clock
                room.broadcast({"type": "move", "move": played, "state": table.snapshot()})
            elif kind == "resign":
                game.resign(color)
            elif kind == "offer_draw":
                if not game.offer_draw(color):  # (an offer answering the opponent's accepts it)
                    room.broadcast({"type": "draw_offer", "by": color_name(color)})
            elif kind == "accept_draw":
                game.accept_draw(color)
            elif kind == "decline_draw":
                game.decline_draw(color)
                room.broadcast({"type": "draw_declined", "by": color_name(color)})
            else:
                player.send({"type": "error", "error": "bad_message", "detail": f"unknown message type {kind!r} during a game"})
        except IllegalMove as err:
            if game.over:  # the mover's flag had fallen: the game ends on time instead
                break
            error = "not_your_turn" if str(err) == "it is not your turn" else "illegal_move"
            player.send({"type": "error", "error": error, "detail": str(err), "state": table.snapshot()})


async def _wait_rematch(room: rooms.Room, table: Table, window: float) -> bool:
    """After a game: True when both players ask for a rematch within *window* seconds."""
    deadline = room.clock() + window
    try:
        while True:
            try:
                player, msg = await room.receive(timeout=max(0.0, deadline - room.clock()))
            except ws.Closed:
                return False
            kind = msg.get("type") if isinstance(msg, dict) else None
            color = table.color_of(player)
            if kind == "rematch":
                table.rematch.add(color)
                if len(table.rematch) == 2:
                    return True
                room.broadcast({"type": "rematch_offer", "by": color_name(color)})
            elif kind == "leave":
                return False
            else:
                player.send({"type": "error", "error": "game_over", "detail": "the game is over: send rematch or leave"})
    except TimeoutError:
        return False


def _time_control_of(room: rooms.Room, time_controls: Mapping[str, TimeControl]) -> TimeControl:
    """A public room's mode is its time control; a private room plays its creator's."""
    if room.mode != PRIVATE:
        return time_controls[room.mode]
    for player in room.players:
        chosen = player.identity.get("time_control") if isinstance(player.identity, dict) else None
        if chosen in time_controls:
            return time_controls[chosen]
    return next(iter(time_controls.values()))  # (unreachable: the creator always chose one)


def make_game(time_controls: Mapping[str, TimeControl], *, rematch_window: float, first_move: float, rng: random.Random | None = None):
    async def chess_game(room: rooms.Room) -> dict[str, Any]:
        """A room of two: games until nobody wants a rematch; the result holds their PGN."""
        table = Table(room, _time_control_of(room, time_controls), rng)
        room.state = table
        while True:
            table.new_game()
            await _play_one(room, table, first_move)
            game = table.game
            table.pgns.append(game.pgn())
            table.finished.append(game)
            room.broadcast({"type": "game_over", "outcome": game.outcome.to_json(), "pgn": table.pgns[-1], "state": table.snapshot()})
            if any(p.gone for p in room.players):
                break  # someone left for good: no rematch
            if not await _wait_rematch(room, table, rematch_window):
                break
        return table.result()

    return chess_game


def mount(
    app: ws.App,
    prefix: str = "/chess",
    *,
    time_controls: Mapping[str, tuple[float, float]] | None = None,
    reconnect: float = 30.0,
    rematch_window: float = 120.0,
    first_move: float = 30.0,
    rng: random.Random | None = None,
    **lobby_options: Any,
) -> rooms.Lobby:
    """Add the chess page, lobby and PGN download to *app*; returns the lobby.

    *time_controls* maps a lobby mode to ``(initial seconds, increment)``; by
    default 3+2, 5+0 and 10+0.  Tests pass tiny clocks here (e.g. ``{"fast":
    (0.5, 0)}``): a mode that only exists when a test asks for it.  White has
    *first_move* seconds for the first move of a game (no clock runs before
    it), or the game is aborted.

    A private game is found by its code alone: every ``?code=`` connection has
    the lobby mode :data:`PRIVATE`, and the game plays the time control its
    creator chose (``?code=new&mode=...``), carried in the creator's identity
    by the lobby's ``auth`` hook; the ``mode`` a friend's page sends is ignored.
    """
    if time_controls is None:
        controls = {name: TimeControl.parse(name) for name in DEFAULT_TIME_CONTROLS}
    else:
        controls = {name: TimeControl(name, float(initial), float(increment)) for name, (initial, increment) in time_controls.items()}
    if PRIVATE in controls:
        raise ValueError(f"{PRIVATE!r} is the mode of every private game, not a time control")
    default = next(iter(controls))

    def time_control(request: ws.Request) -> str:
        name = (request.query.get("mode") or default).strip().replace(" ", "+")
        if name not in controls:
            raise ws.HTTPError(400, f"unknown time control {name!r}; try one of {', '.join(controls)}")
        return name

    def joins_by_code(request: ws.Request) -> bool:
        query = request.query
        return "code" in query and "token" not in query and "watch" not in query

    def mode(request: ws.Request) -> str:
        return PRIVATE if joins_by_code(request) else time_control(request)

    outer_auth = lobby_options.pop("auth", None)  # e.g. the guest cookie (examples/games/chess/guest.py)

    async def identify(request: ws.Request) -> dict[str, Any] | None:
        """The player's identity (from *auth* when given, else the name as the lobby
        would take it), and for the creator of a private game the time control it
        will be played at."""
        identity: dict[str, Any] = {}
        if outer_auth is not None:
            found = outer_auth(request)
            if inspect.isawaitable(found):
                found = await found
            if found is None:
                return None  # refused (403), as the lobby does
            identity = dict(found) if isinstance(found, dict) else {"name": str(found)}
        else:
            name = (request.query.get("name") or "").strip()[:MAX_NAME]
            if name:
                identity["name"] = name  # (without one the lobby names the player player-<n>)
        if joins_by_code(request) and request.query["code"].strip().upper() == "NEW":
            identity["time_control"] = time_control(request)
        return identity

    lobby = rooms.Lobby(
        2,
        make_game(controls, rematch_window=rematch_window, first_move=first_move, rng=rng),
        mode=mode,
        auth=identify,
        private=True,
        reconnect=reconnect,
        on_resume=_snapshot,
        on_spectate=_snapshot,
        **lobby_options,
    )

    @app.route(prefix)
    async def page_redirect(request: ws.Request) -> ws.Response:
        return ws.Response.redirect(prefix + "/")

    @app.route(prefix + "/config")
    async def config(request: ws.Request) -> ws.Response:
        return ws.Response.json({"time_controls": list(controls), "reconnect": reconnect})

    @app.route(prefix + "/pgn/{room_id}")
    async def pgn(request: ws.Request, room_id: str) -> ws.Response:
        for done_id, result in reversed(lobby.results):
            if done_id == room_id and isinstance(result, dict) and result.get("pgn"):
                response = ws.Response.text(result["pgn"] + "\n")
                response.headers.append(("Content-Disposition", f'attachment; filename="chess-{room_id}.pgn"'))
                return response
        room = next((r for r in lobby.rooms if r.id == room_id), None)
        if room is not None and isinstance(room.state, Table) and room.state.pgns:
            return ws.Response.text("\n\n".join(room.state.pgns) + "\n")
        return ws.Response.error(404, "no finished game with this id")

    app.route(prefix + "/ws")(lobby)
    app.mount_static(prefix, STATIC)
    return lobby
