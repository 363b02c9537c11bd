"""The rooms layer's side of the Colyseus comparison (bench/colyseus.py), written as
the guide's tic-tac-toe is:

    python bench/servers/ours_tictactoe.py --host 127.0.0.1 --port 8765 [--uvloop]

``/tictactoe``: a :class:`rooms.Lobby` of 2.  Each move is validated (your turn,
an empty cell) and broadcast; a finished game is announced (``over``) and the next
one starts in the same room, the other seat first, until a player leaves.
``/match``: the 2-player lobby: the room says ``go`` and ends (close 1000).

bench/colyseus/server.mjs is the same two games on Colyseus.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import rooms
import ws
from bench.servers import serve_ours

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def make_app() -> ws.App:
    app = ws.App()

    @app.route("/tictactoe")
    @rooms.lobby(2, compression=None)
    async def tictactoe(room: rooms.Room) -> None:
        first = 0
        while True:
            board = [""] * 9
            turn = first
            room.broadcast({"type": "start", "board": board, "turn": turn})
            while True:
                player, move = await room.receive()
                cell = move.get("cell") if isinstance(move, dict) else None
                if player.seat != turn:
                    player.send({"type": "error", "error": "not_your_turn"})
                    continue
                if type(cell) is not int or not 0 <= cell < 9 or board[cell]:
                    player.send({"type": "error", "error": "illegal_move", "detail": f"cannot play {cell!r}"})
                    continue
                board[cell] = "XO"[turn]
                won = any(board[a] and board[a] == board[b] == board[c] for a, b, c in LINES)
                over = won or all(board)
                turn = 1 - turn
                room.broadcast({"type": "move", "seat": player.seat, "cell": cell, "board": board, "turn": None if over else turn})
                if over:
                    room.broadcast({"type": "over", "winner": player.seat if won else None})
                    break
            first = 1 - first

    @app.route("/match")
    @rooms.lobby(2, compression=None)
    async def match(room: rooms.Room) -> None:
        room.broadcast({"type": "go"})

    return app


if __name__ == "__main__":
    serve_ours(make_app, __doc__.splitlines()[0])
