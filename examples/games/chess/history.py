"""What the chess example gives the archive: the scores a room's games make
(for its ratings), and each game's own record (moves and clocks, for replays).

Both read the room's :class:`~examples.games.chess.app.Table` when the room
ends.  Colours alternate in a room: every rematch swaps them, so the last
game's seating tells every earlier one's.
"""

from __future__ import annotations

import re
from typing import Any

import chess

import rooms

from .app import Table
from .game import ChessGame

__all__ = ["scores", "record", "game_record", "white_seats"]

_RESULT = re.compile(r'^\[Result "([^"]*)"\]', re.MULTILINE)
_POINTS = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}


def white_seats(table: Table) -> list[int]:
    """The seat that had White in each game of the room, in order."""
    count = len(table.pgns)
    last = table.seats[chess.WHITE].seat
    return [last if (count - 1 - i) % 2 == 0 else 1 - last for i in range(count)]


def scores(room: rooms.Room, result: Any) -> list[list[float]] | None:
    """``Ratings(score=...)`` for chess: each finished game's points by seat; a
    game without a result (``*``) does not count; ``None`` when none does."""
    table = room.state
    if not isinstance(table, Table) or not table.pgns:
        return None
    games = []
    for pgn, white in zip(table.pgns, white_seats(table)):
        found = _RESULT.search(pgn)
        points = _POINTS.get(found.group(1)) if found else None
        if points is None:
            continue
        pair = [0.0, 0.0]
        pair[white], pair[1 - white] = points, 1.0 - points
        games.append(pair)
    return games or None


def game_record(game: ChessGame, white: int) -> dict[str, Any]:
    """One game as the replay page reads it: names, moves, the position and both
    clocks after every ply (index 0 is the start), the outcome and the PGN."""
    board = chess.Board()
    fens = [board.fen()]
    uci = [m.uci() for m in game.board.move_stack]
    for move in game.board.move_stack:
        board.push(move)
        fens.append(board.fen())
    start = {"white": game.time_control.initial, "black": game.time_control.initial}
    return {
        "white": white,
        "names": {"white": game.names[chess.WHITE], "black": game.names[chess.BLACK]},
        "time_control": game.time_control.name,
        "moves": game.to_json()["moves"],
        "uci": uci,
        "fens": fens,
        "clocks": [start, *game.clock_log],
        "outcome": None if game.outcome is None else game.outcome.to_json(),
        "pgn": game.pgn(),
    }


def record(room: rooms.Room, result: Any) -> dict[str, Any] | None:
    """``Lobby(record=...)`` for chess: every game of the room (:func:`game_record`)."""
    table = room.state
    if not isinstance(table, Table):
        return None
    return {"games": [game_record(game, white) for game, white in zip(table.finished, white_seats(table))]}
