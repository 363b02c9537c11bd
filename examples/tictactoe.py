"""Tic-tac-toe on rooms.Lobby, the guide's complete 2-player game: ``python -m examples.tictactoe``.

Clients connect to ws://127.0.0.1:8000/tictactoe?name=alice and send {"cell": 0..8}
(cells row by row); seat 0 plays X and moves first.
"""

import argparse
import asyncio

import rooms
import ws

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]
TURN_SECONDS = 60.0

app = ws.App()


@app.route("/tictactoe")
@rooms.lobby(2, reconnect=30)
async def tictactoe(room: rooms.Room) -> dict:
    board = [""] * 9
    order = rooms.TurnOrder(room.players)
    room.state = {"board": board, "turn": 0}  # what a returning player or a spectator gets
    room.broadcast({"type": "start", "board": board, "turn": 0})
    while True:
        player = order.current
        try:
            move = await room.turn(player, timeout=TURN_SECONDS)
        except rooms.TurnTimeout:
            return {"winner": 1 - player.seat, "reason": "timeout"}
        cell = move.get("cell") if isinstance(move, dict) else None
        if type(cell) is not int or not 0 <= cell < 9 or board[cell]:
            player.send({"type": "error", "error": "illegal_move", "detail": f"cannot play {cell!r}"})
            continue
        board[cell] = "XO"[player.seat]
        room.state["turn"] = order.next().seat
        room.broadcast({"type": "move", "seat": player.seat, "cell": cell, "board": board})
        if any(board[a] and board[a] == board[b] == board[c] for a, b, c in LINES):
            return {"winner": player.seat, "reason": "three in a row", "board": board}
        if all(board):
            return {"winner": None, "reason": "draw", "board": board}


async def main() -> None:
    parser = argparse.ArgumentParser(description="tic-tac-toe on rooms.Lobby")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    async with await ws.serve(app, args.host, args.port) as server:
        print(f"tic-tac-toe on ws://{args.host}:{server.port}/tictactoe", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
