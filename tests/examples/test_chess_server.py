"""Bots play whole chess games through the example server (ws.connect clients, real sockets)."""

from __future__ import annotations

import asyncio
import io
import time

import chess
import chess.pgn
import pytest

import ws
from examples.server import make_site
from tests.support import http_get, running

from .bots import ChessBot, chess_pair, play

SCHOLARS_MATE = ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Qxf7#"]


def site(**chess_options):
    time_controls = chess_options.pop("time_controls", {"5+0": (300, 0), "tiny": (0.4, 0)})
    chess_options.setdefault("reconnect", 2.0)
    chess_options.setdefault("rematch_window", 5.0)
    return make_site(time_controls=time_controls, chess_options=chess_options)


async def finish(white: ChessBot, black: ChessBot) -> dict:
    """Both decline a rematch; return the room's result from ``ended``."""
    white.send({"type": "leave"})
    ended = await white.recv_type("ended")
    await black.recv_type("ended")
    await asyncio.gather(white.aclose(), black.aclose())
    return ended["result"]


async def test_scholars_mate_and_the_pgn_is_the_result() -> None:
    s = site()
    async with running(s.app) as server:
        white, black = await chess_pair(server, "5+0")
        assert white.state["names"] == {"white": white.name, "black": black.name}
        # no clock runs before White's first move (issue 15: it used to start at the match)
        assert white.state["clocks"] == {"white": 300, "black": 300} and white.state["running"] is None
        # an illegal move is rejected with a reason, and the board does not change
        white.send({"type": "move", "uci": "e2e5"})
        error = await white.recv_type("error")
        assert error["error"] == "illegal_move" and "pawn cannot move from e2 to e5" in error["detail"]
        black.send({"type": "move", "uci": "e7e5"})
        error = await black.recv_type("error")
        assert error["error"] == "not_your_turn"
        state = await play(white, black, SCHOLARS_MATE)
        assert state["check"] and state["fen"].startswith("r1bqkb1r/pppp1Qpp/2n2n2/4p3/2B1P3")
        over = [await bot.recv_type("game_over") for bot in (white, black)]
        for msg in over:
            assert msg["outcome"] == {"result": "1-0", "reason": "checkmate", "winner": "white"}
        pgn = over[0]["pgn"]
        game = chess.pgn.read_game(io.StringIO(pgn))
        assert [board_move.uci() for board_move in game.mainline_moves()][-1] == "h5f7"
        assert game.headers["Result"] == "1-0" and game.headers["White"] == white.name
        result = await finish(white, black)
        assert result == {"pgn": pgn, "outcome": over[0]["outcome"], "games": 1}
        room_id = white.matched["room"]
        assert s.chess.results[-1] == (room_id, result)
        status, body = await http_get(server, f"/chess/pgn/{room_id}")
        assert status == 200 and body.decode().strip() == pgn
        status, _ = await http_get(server, "/chess/pgn/nope")
        assert status == 404


async def test_draw_by_repetition() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server)
        await play(white, black, ["Nf3", "Nf6", "Ng1", "Ng8"] * 2)
        over = await white.recv_type("game_over")
        assert over["outcome"] == {"result": "1/2-1/2", "reason": "threefold repetition", "winner": None}
        result = await finish(white, black)
        assert result["pgn"].rstrip().endswith("1/2-1/2")


async def test_flag_fall_with_a_tiny_clock() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server, "tiny")
        assert white.state["time_control"]["initial"] == 0.4
        await play(white, black, ["e4"])
        started = time.monotonic()
        over = await black.recv_type("game_over")  # black never moves: the server flags them
        assert 0.1 < time.monotonic() - started < 2.0
        assert over["outcome"] == {"result": "1-0", "reason": "timeout", "winner": "white"}
        assert over["state"]["clocks"]["black"] == 0 and over["state"]["running"] is None
        black.send({"type": "move", "san": "e5"})  # too late
        error = await black.recv_type("error")
        assert error["error"] == "game_over"
        result = await finish(white, black)
        assert '[Termination "time forfeit"]' in result["pgn"]


async def test_unknown_time_control_is_refused_before_the_upgrade() -> None:
    async with running(site().app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await ChessBot.connect(server, "/chess/ws", name="x", mode="99+9")
        assert "400" in str(info.value)


async def test_resign() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server)
        await play(white, black, ["d4", "d5"])
        black.send({"type": "resign"})  # resigning does not need your turn
        for bot in (white, black):
            over = await bot.recv_type("game_over")
            assert over["outcome"] == {"result": "1-0", "reason": "resignation", "winner": "white"}
        result = await finish(white, black)
        assert result["outcome"]["reason"] == "resignation"


async def test_draw_offer_decline_accept_and_rematch_swaps_colours() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server)
        white.send({"type": "offer_draw"})
        for bot in (white, black):
            assert (await bot.recv_type("draw_offer"))["by"] == "white"
        black.send({"type": "decline_draw"})
        for bot in (white, black):
            assert (await bot.recv_type("draw_declined"))["by"] == "black"
        black.send({"type": "accept_draw"})
        assert (await black.recv_type("error"))["detail"] == "there is no draw offer to accept"
        black.send({"type": "offer_draw"})
        await white.recv_type("draw_offer")
        white.send({"type": "accept_draw"})
        for bot in (white, black):
            over = await bot.recv_type("game_over")
            assert over["outcome"]["reason"] == "agreement"
        white.send({"type": "rematch"})
        for bot in (white, black):
            assert (await bot.recv_type("rematch_offer"))["by"] == "white"
        black.send({"type": "rematch"})
        for bot in (white, black):
            await bot.wait_start()
        assert white.color == "black" and black.color == "white"  # colours swapped
        new_white, new_black = black, white
        await play(new_white, new_black, SCHOLARS_MATE)
        await new_white.recv_type("game_over")
        result = await finish(new_white, new_black)
        assert result["games"] == 2 and result["outcome"]["result"] == "1-0"
        games = io.StringIO(result["pgn"])
        first, second = chess.pgn.read_game(games), chess.pgn.read_game(games)
        assert first.headers["Result"] == "1/2-1/2" and second.headers["Result"] == "1-0"
        assert first.headers["White"] == second.headers["Black"]


async def test_disconnect_and_reconnect_mid_game_keeps_board_and_clocks() -> None:
    async with running(site(reconnect=3.0).app) as server:
        white, black = await chess_pair(server)
        before = await play(white, black, ["e4", "e5", "Nf3"])
        token, room_id = black.matched["token"], black.matched["room"]
        black.sock.abort()  # a reload: the connection just drops
        left = await white.recv_type("player_left")
        assert left["player"]["seat"] == black.matched["seat"] and left["reconnect"] == 3.0
        await asyncio.sleep(0.3)  # black's clock keeps running while away
        back = await ChessBot.connect(server, "/chess/ws", token=token)
        back.matched = black.matched
        resumed = await back.recv_type("resumed")
        state = resumed["state"]
        assert resumed["room"] == room_id and resumed["seat"] == black.matched["seat"]
        assert state["moves"] == ["e4", "e5", "Nf3"] and state["uci"] == ["e2e4", "e7e5", "g1f3"]
        assert state["fen"] == chess.Board("rnbqkbnr/pppp1ppp/8/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R b KQkq - 1 2").fen()
        assert state["turn"] == "black" and state["running"] == "black"
        assert state["colors"]["black"]["seat"] == black.matched["seat"]
        assert 297.0 < state["clocks"]["black"] < 299.75  # the 0.3 s away were counted
        # White's clock stood still while black was away: as it was after Nf3.
        assert state["clocks"]["white"] == before["clocks"]["white"] and state["clocks"]["white"] > 299
        returned = await white.recv_type("player_returned")
        assert returned["player"]["connected"] is True
        back.color = "black"
        await play(white, back, ["Nc6", "Bb5"])
        back.send({"type": "resign"})
        assert (await white.recv_type("game_over"))["outcome"]["winner"] == "white"
        await finish(white, back)


async def test_a_player_who_never_returns_loses_by_abandonment() -> None:
    async with running(site(reconnect=0.3).app) as server:
        white, black = await chess_pair(server)
        await play(white, black, ["e4"])
        black.sock.abort()
        over = await white.recv_type("game_over")
        assert over["outcome"] == {"result": "1-0", "reason": "abandoned", "winner": "white"}
        ended = await white.recv_type("ended")
        assert '[Termination "abandoned"]' in ended["result"]["pgn"]
        await white.aclose()


async def test_spectator_joins_late_and_sees_the_current_position() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server)
        await play(white, black, ["d4", "Nf6", "c4"])
        spectator = await ChessBot.connect(server, "/chess/ws", watch=white.matched["room"])
        watching = await spectator.recv_type("spectating")
        state = watching["state"]
        assert state["moves"] == ["d4", "Nf6", "c4"] and state["turn"] == "black"
        assert state["fen"] == white.seen[-1]["state"]["fen"]
        assert state["names"] == {"white": white.name, "black": black.name}
        spectator.send({"type": "move", "san": "e6"})
        assert (await spectator.recv_type("error"))["error"] == "spectator"
        await play(white, black, ["e6"])
        seen = await spectator.recv_type("move")
        assert seen["move"]["san"] == "e6"
        white.send({"type": "resign"})
        assert (await spectator.recv_type("game_over"))["outcome"]["winner"] == "black"
        await finish(white, black)
        _, closed = await spectator.messages_until_closed()
        assert closed.code == 1000


async def test_private_game_by_code() -> None:
    async with running(site().app) as server:
        host = await ChessBot.connect(server, "/chess/ws", name="host", code="new", mode="5+0")
        status = await host.recv_type("lobby")
        code = status["code"]
        assert len(code) == 6
        # someone in the public lobby is not matched with the private game
        public = await ChessBot.connect(server, "/chess/ws", name="public", mode="5+0")
        await public.recv_type("lobby")
        wrong = await ChessBot.connect(server, "/chess/ws", name="x", code="ZZZZZZ", mode="5+0")
        _, closed = await wrong.messages_until_closed()
        assert closed.code == 4004
        guest = await ChessBot.connect(server, "/chess/ws", name="guest", code=code.lower(), mode="5+0")
        for bot in (host, guest):
            await bot.wait_matched()
            await bot.wait_start()
        assert {host.state["names"]["white"], host.state["names"]["black"]} == {"host", "guest"}
        host.send({"type": "resign"})
        await guest.recv_type("game_over")
        await finish(host, guest)
        await public.aclose()


async def test_no_clock_runs_before_whites_first_move() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server, "tiny")  # 0.4 s each
        assert white.state["running"] is None and white.state["first_move"] > 0
        await asyncio.sleep(0.6)  # longer than White's whole clock: nothing flags
        state = await play(white, black, ["e4"])
        assert state["clocks"]["white"] == 0.4 and state["running"] == "black" and state["first_move"] is None
        over = await black.recv_type("game_over")  # Black's clock started with White's move
        assert over["outcome"] == {"result": "1-0", "reason": "timeout", "winner": "white"}
        await finish(white, black)


async def test_a_game_without_a_first_move_is_aborted() -> None:
    async with running(site(first_move=0.3).app) as server:
        white, black = await chess_pair(server)
        white.send({"type": "offer_draw"})  # a message that is not a move does not reset the wait
        await black.recv_type("draw_offer")
        over = await black.recv_type("game_over")
        assert over["outcome"] == {"result": "*", "reason": "aborted", "winner": None}
        assert over["state"]["running"] is None and over["state"]["clocks"] == {"white": 300, "black": 300}
        result = await finish(white, black)
        assert '[Result "*"]' in result["pgn"] and '[Termination "unterminated"]' in result["pgn"]


async def test_a_move_without_a_uci_key_is_a_bad_message_that_names_the_key() -> None:
    async with running(site().app) as server:
        white, black = await chess_pair(server)
        white.send({"type": "move", "move": "f2f3"})
        error = await white.recv_type("error")
        assert error["error"] == "bad_message" and '"uci"' in error["detail"] and "e2e4" in error["detail"]
        await play(white, black, ["f3"])  # the turn goes on
        white.send({"type": "resign"})
        await black.recv_type("game_over")
        await finish(white, black)


@pytest.mark.parametrize(("created", "friend"), [("5+0", "tiny"), ("tiny", "5+0"), ("5+0", None), ("5+0", "99+9")])
async def test_a_private_code_finds_its_game_whatever_time_control_the_friend_sends(created, friend) -> None:
    async with running(site().app) as server:
        host = await ChessBot.connect(server, "/chess/ws", name="host", code="new", mode=created)
        code = (await host.recv_type("lobby"))["code"]
        extra = {"mode": friend} if friend else {}
        guest = await ChessBot.connect(server, "/chess/ws", name="guest", code=code, **extra)
        for bot in (host, guest):
            await bot.wait_matched()
            await bot.wait_start()
            assert bot.state["time_control"]["name"] == created  # the creator's, for both
        assert {host.state["names"]["white"], host.state["names"]["black"]} == {"host", "guest"}
        # a public player of the same time control is not matched with a private game
        public = await ChessBot.connect(server, "/chess/ws", name="public", mode=created)
        assert (await public.recv_type("lobby"))["have"] == 1
        await public.aclose()
        host.send({"type": "resign"})
        await guest.recv_type("game_over")
        await finish(host, guest)


async def test_a_private_game_of_an_unknown_time_control_is_refused_before_the_upgrade() -> None:
    async with running(site().app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await ChessBot.connect(server, "/chess/ws", name="x", code="new", mode="99+9")
        assert "400" in str(info.value)


async def test_a_player_without_a_name_is_named_by_the_lobby() -> None:
    async with running(site().app) as server:
        a = await ChessBot.connect(server, "/chess/ws", name="  ")
        await a.recv_type("lobby")
        b = await ChessBot.connect(server, "/chess/ws", name="x" * 40)
        names = sorted(p["name"] for p in (await a.wait_matched())["players"])
        assert names[0].startswith("player-") and names[1] == "x" * 32
        await b.wait_matched()
        await asyncio.gather(a.aclose(), b.aclose())
