"""A chess player for the load test: ``python -m rooms.loadtest
ws://127.0.0.1:8000/chess/ws --bot examples.bots:chess``.

It mates when it can, else captures, else plays a random legal move; it
resigns a game that reaches ``MAX_PLIES`` half-moves (random play would go on
for hundreds), and after a game it leaves the room rather than ask for a
rematch, so that the room ends.  One instance plays one player's game.
"""

from __future__ import annotations

import random
from typing import Any

import chess

__all__ = ["ChessBot", "bot", "MAX_PLIES"]

MAX_PLIES = 120


class ChessBot:
    """Called with each message the server sends; returns what to send back."""

    query = {"mode": "10+0"}  # a long clock: bots are quick, a loaded machine may not be

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def __call__(self, message: Any, player: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            return None
        kind = message.get("type")
        if kind == "game_over":
            return {"type": "leave"}
        if kind not in ("start", "move", "resumed"):
            return None
        state = message.get("state") or {}
        if state.get("outcome") or not state.get("fen"):
            return None
        mine = "white" if state["colors"]["white"]["seat"] == player.seat else "black"
        if state.get("turn") != mine:
            return None
        if len(state.get("uci", ())) >= MAX_PLIES:
            return {"type": "resign"}
        return {"type": "move", "uci": self.choose(chess.Board(state["fen"])).uci()}

    def choose(self, board: chess.Board) -> chess.Move:
        """A mate in one if there is one, else a capture, else any legal move."""
        moves = list(board.legal_moves)
        for move in moves:
            board.push(move)
            mate = board.is_checkmate()
            board.pop()
            if mate:
                return move
        captures = [m for m in moves if board.is_capture(m)]
        return self.rng.choice(captures or moves)


bot = ChessBot
