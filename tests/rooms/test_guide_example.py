"""The guide's tic-tac-toe (examples/tictactoe.py) played by bots on a real server.

Each bot is a ``ws.connect`` client speaking JSON, as a client written from
docs/protocol.md would: the tests assert on every message the framework and the
game send, so the guide and the protocol document stay true.
"""

from __future__ import annotations

import asyncio
import json
import pathlib

import pytest

import ws
from examples import tictactoe
from tests.support import running, scaled, url


async def recv(sock: ws.WebSocket, timeout: float = scaled(5.0)) -> dict:
    async def next_message() -> str:
        return await sock

    return json.loads(await asyncio.wait_for(next_message(), timeout))


async def closed_code(sock: ws.WebSocket) -> int:
    with pytest.raises(ws.Closed) as info:
        await asyncio.wait_for(recv(sock), scaled(5))
    return info.value.code


async def start(server: ws.Server) -> tuple[ws.WebSocket, ws.WebSocket, dict]:
    """Seat two bots: X (seat 0, moves first) and O; return them and X's ``matched``."""
    x = await ws.connect(url(server, "/tictactoe?name=xavier"))
    assert await recv(x) == {"type": "lobby", "have": 1, "need": 2, "position": 1}
    o = await ws.connect(url(server, "/tictactoe?name=olga"))
    matched_x, matched_o = await recv(x), await recv(o)
    players = [{"seat": 0, "name": "xavier", "connected": True}, {"seat": 1, "name": "olga", "connected": True}]
    for seat, matched in enumerate([matched_x, matched_o]):
        assert matched["type"] == "matched"
        assert matched["seat"] == seat
        assert matched["room"] == matched_x["room"]
        assert matched["reconnect"] == 30
        assert matched["players"] == players
        assert matched["token"].startswith(matched["room"] + f".{seat}.")
    start = {"type": "start", "board": [""] * 9, "turn": 0}
    assert await recv(x) == start
    assert await recv(o) == start
    return x, o, matched_x


async def play(x: ws.WebSocket, o: ws.WebSocket, cells: list[int], board: list[str] | None = None) -> list[str]:
    """Play *cells* alternately, on *board* as it stands; check both bots see each move."""
    board = list(board or [""] * 9)
    first = sum(1 for mark in board if mark) % 2
    for i, cell in enumerate(cells):
        seat = (first + i) % 2
        board[cell] = "XO"[seat]
        (x, o)[seat].text(json.dumps({"cell": cell}))
        move = {"type": "move", "seat": seat, "cell": cell, "board": board}
        assert await recv(x) == move
        assert await recv(o) == move
    return board


async def test_a_win_ends_the_room_with_the_winner():
    async with running(tictactoe.app) as server:
        x, o, matched = await start(server)
        board = await play(x, o, [0, 3, 1, 4, 2])  # X takes the top row
        ended = {"type": "ended", "room": matched["room"], "result": {"winner": 0, "reason": "three in a row", "board": board}}
        assert await recv(x) == ended
        assert await recv(o) == ended
        assert await closed_code(x) == 1000
        assert await closed_code(o) == 1000
        assert (matched["room"], ended["result"]) in tictactoe.tictactoe.results


async def test_a_full_board_without_a_line_is_a_draw():
    async with running(tictactoe.app) as server:
        x, o, matched = await start(server)
        board = await play(x, o, [0, 1, 2, 4, 3, 5, 7, 6, 8])
        assert board == ["X", "O", "X", "X", "O", "O", "O", "X", "X"]
        ended = {"type": "ended", "room": matched["room"], "result": {"winner": None, "reason": "draw", "board": board}}
        assert await recv(x) == ended
        assert await recv(o) == ended
        assert await closed_code(x) == 1000


async def test_illegal_moves_are_rejected_and_the_game_goes_on():
    async with running(tictactoe.app) as server:
        x, o, matched = await start(server)
        board = await play(x, o, [4])
        # O plays a taken cell, then cells that are no cell at all: the game says no to O alone.
        for bad, shown in [({"cell": 4}, "4"), ({"cell": 9}, "9"), ({"cell": True}, "True"), ({"row": 1}, "None"), ([4], "None")]:
            o.text(json.dumps(bad))
            assert await recv(o) == {"type": "error", "error": "illegal_move", "detail": f"cannot play {shown}"}
        # X moves out of turn: the framework's room.turn() refuses it.
        x.text(json.dumps({"cell": 0}))
        assert await recv(x) == {"type": "error", "error": "not_your_turn", "detail": "it is olga's turn"}
        # Not JSON at all: a bad_message error, and the room lives on.
        o.text("{cell: 0")
        error = await recv(o)
        assert error["type"] == "error" and error["error"] == "bad_message"
        assert error["detail"].startswith("message is not valid JSON")
        # X saw none of that: the next thing X hears is O's legal move.
        board = await play(x, o, [0, 8, 1, 6, 2], board)  # O takes 0, 1, 2
        assert board[:3] == ["O", "O", "O"]
        ended = await recv(x)
        assert ended["result"] == {"winner": 1, "reason": "three in a row", "board": ["O", "O", "O", "", "X", "", "X", "", "X"]}
        assert await recv(o) == ended


async def test_a_player_who_drops_takes_the_seat_back_with_the_token():
    async with running(tictactoe.app) as server:
        x, o, matched = await start(server)
        board = await play(x, o, [4, 0])
        x.abort()
        left = await recv(o)
        assert left == {"type": "player_left", "player": {"seat": 0, "name": "xavier", "connected": False}, "reconnect": 30}
        x = await ws.connect(url(server, "/tictactoe?token=" + matched["token"]))
        resumed = await recv(x)
        assert resumed == {
            "type": "resumed",
            "room": matched["room"],
            "seat": 0,
            "players": [{"seat": 0, "name": "xavier", "connected": True}, {"seat": 1, "name": "olga", "connected": True}],
            "state": {"board": ["O", "", "", "", "X", "", "", "", ""], "turn": 0},
        }
        assert await recv(o) == {"type": "player_returned", "player": {"seat": 0, "name": "xavier", "connected": True}}
        # A spectator gets the same state, then every move.
        spectator = await ws.connect(url(server, "/tictactoe?watch=" + matched["room"]))
        watching = await recv(spectator)
        assert watching["type"] == "spectating" and watching["state"] == resumed["state"]
        board = await play(x, o, [2, 6, 8, 1, 5], board)
        for _ in range(5):
            assert (await recv(spectator))["type"] == "move"
        ended = await recv(spectator)
        assert ended["result"] == {"winner": 0, "reason": "three in a row", "board": board}
        assert await closed_code(spectator) == 1000


async def test_a_player_who_does_not_move_loses_on_time(monkeypatch):
    monkeypatch.setattr(tictactoe, "TURN_SECONDS", 0.2)
    async with running(tictactoe.app) as server:
        x, o, matched = await start(server)
        ended = {"type": "ended", "room": matched["room"], "result": {"winner": 1, "reason": "timeout"}}
        assert await recv(x) == ended
        assert await recv(o) == ended


def test_the_guide_shows_the_example_verbatim():
    """docs/guide.md walks through examples/tictactoe.py: the listing must be the real file."""
    root = pathlib.Path(__file__).resolve().parents[2]
    source = (root / "examples" / "tictactoe.py").read_text()
    guide = (root / "docs" / "guide.md").read_text()
    assert f"```python\n{source}```" in guide
    assert len(source.splitlines()) < 60
