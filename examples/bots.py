"""The load test's bots for the example games (``python -m rooms.loadtest``):

    python -m rooms.loadtest ws://127.0.0.1:8000/tictactoe --bot examples.bots:tictactoe
    python -m rooms.loadtest ws://127.0.0.1:8000/chess/ws --bot examples.bots:chess

A bot gets each message the server sends and returns what to send back (see
:mod:`rooms.loadtest`).  The tic-tac-toe one lives here rather than in
examples/tictactoe.py, which the guide shows whole; the chess one is
:mod:`examples.games.chess.bot`.
"""

from __future__ import annotations

import random
from typing import Any

from .games.chess.bot import ChessBot

__all__ = ["tictactoe", "chess"]


def tictactoe(message: Any, player: Any) -> dict[str, int] | None:
    """examples/tictactoe.py's player: on its turn, a random free cell."""
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind == "start":
        board, turn = message["board"], message["turn"]
    elif kind == "move":
        board, turn = message["board"], 1 - message["seat"]
    else:
        return None
    free = [cell for cell, mark in enumerate(board) if not mark]
    if turn != player.seat or not free:
        return None
    return {"cell": random.choice(free)}


chess = ChessBot
