"""The chess rules and clocks, through ChessGame's public API (no server, time driven by hand)."""

from __future__ import annotations

import io

import chess
import chess.pgn
import pytest

from examples.games.chess.game import ChessGame, IllegalMove, TimeControl

W, B = chess.WHITE, chess.BLACK


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def new_game(clock: FakeTime, tc: str = "5+0", fen: str | None = None) -> ChessGame:
    game = ChessGame(TimeControl.parse(tc), white="alice", black="bob", now=clock, fen=fen)
    game.start()
    return game


def play(game: ChessGame, *sans: str) -> None:
    for san in sans:
        game.move(game.turn, san, notation="san")


# ------------------------------------------------------------------ time controls

def test_time_control_parse() -> None:
    tc = TimeControl.parse("3+2")
    assert (tc.name, tc.initial, tc.increment, tc.pgn) == ("3+2", 180.0, 2.0, "180+2")
    assert TimeControl.parse("10 0").name == "10+0"  # a '+' in a query string arrives as a space
    for bad in ["", "3", "x+1", "0+5", "3+-1"]:
        with pytest.raises(ValueError):
            TimeControl.parse(bad)


# ------------------------------------------------------------------ moves and reasons

def test_scholars_mate(clock: FakeTime) -> None:
    game = new_game(clock)
    play(game, "e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Qxf7#")
    assert game.over and game.outcome.result == "1-0" and game.outcome.reason == "checkmate"
    state = game.to_json()
    assert state["moves"] == ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Qxf7#"]
    assert state["check"] and state["outcome"] == {"result": "1-0", "reason": "checkmate", "winner": "white"}
    with pytest.raises(IllegalMove, match="over"):
        game.move(B, "e8e7")


def test_uci_and_san_both_work(clock: FakeTime) -> None:
    game = new_game(clock)
    assert game.move(W, "e2e4") == {"uci": "e2e4", "san": "e4", "color": "white"}
    assert game.move(B, "Nf6", notation="san") == {"uci": "g8f6", "san": "Nf6", "color": "black"}


@pytest.mark.parametrize(
    ("fen", "color", "move", "reason"),
    [
        (None, B, "e7e5", "not your turn"),
        (None, W, "e2e5", "pawn cannot move from e2 to e5"),
        (None, W, "e3e4", "no piece on e3"),
        (None, W, "e7e5", "not yours"),
        (None, W, "zz", "not a move"),
        (None, W, "0000", "not a move"),
        (None, W, "e2e2", "not a move"),
        (None, W, "g1g3", "knight cannot move"),
        (None, W, "e1g1", "cannot castle now"),
        ("4k3/8/8/8/8/8/4r3/4K3 w - - 0 1", W, "e1e2x", "not a move"),
        ("4k3/8/8/8/8/8/3r4/4K3 w - - 0 1", W, "e1d1", "would leave your king in check"),
        ("4k3/8/8/8/8/8/8/r3K2R w K - 0 1", W, "h1h8", "in check"),
        ("4k3/8/8/8/8/8/8/4K2r w K - 0 1", W, "e1g1", "castle"),
        ("4k3/P7/8/8/8/8/8/4K3 w - - 0 1", W, "a7a8", "must promote"),
        ("4k3/P7/8/8/8/8/8/4K3 w - - 0 1", W, "a7a8k", "cannot promote to a king"),
        ("4k3/8/8/8/8/8/8/4K1N1 w - - 0 1", W, "g1f3q", "only a pawn"),
    ],
)
def test_illegal_moves_have_reasons(clock: FakeTime, fen: str | None, color: bool, move: str, reason: str) -> None:
    game = new_game(clock, fen=fen)
    before = game.board.fen()
    with pytest.raises(IllegalMove, match=reason):
        game.move(color, move)
    assert game.board.fen() == before and not game.over


def test_truly_ambiguous_san(clock: FakeTime) -> None:
    game = new_game(clock, fen="4k3/8/8/8/8/8/8/1N3N1K w - - 0 1")
    with pytest.raises(IllegalMove, match="ambiguous"):
        game.move(W, "Nd2", notation="san")
    with pytest.raises(IllegalMove, match="not legal"):
        game.move(W, "Qd4", notation="san")
    game.move(W, "Nbd2", notation="san")


def test_promotion(clock: FakeTime) -> None:
    game = new_game(clock, fen="4k3/P7/8/8/8/8/8/4K3 w - - 0 1")
    assert game.move(W, "a7a8n")["san"] == "a8=N"
    assert game.board.piece_at(chess.A8) == chess.Piece(chess.KNIGHT, W)
    game = new_game(clock, fen="4k3/P7/8/8/8/8/8/4K3 w - - 0 1")
    assert game.move(W, "a7a8q")["san"] == "a8=Q+"
    assert game.to_json()["check"]


# ------------------------------------------------------------------ automatic endings

def test_stalemate_ends_in_a_draw(clock: FakeTime) -> None:
    game = new_game(clock, fen="k7/8/1Q6/8/8/8/8/4K3 w - - 0 1")
    play(game, "Kd2")  # black king on a8, queen b6: after any quiet white move black still has none
    assert game.outcome.result == "1/2-1/2" and game.outcome.reason == "stalemate"


def test_insufficient_material(clock: FakeTime) -> None:
    game = new_game(clock, fen="4k3/8/8/8/8/8/3r4/4K3 w - - 0 1")
    play(game, "Kxd2")
    assert (game.outcome.result, game.outcome.reason) == ("1/2-1/2", "insufficient material")


def test_threefold_repetition(clock: FakeTime) -> None:
    game = new_game(clock)
    play(game, "Nf3", "Nf6", "Ng1", "Ng8", "Nf3", "Nf6", "Ng1")
    assert not game.over
    play(game, "Ng8")  # the start position for the third time
    assert (game.outcome.result, game.outcome.reason) == ("1/2-1/2", "threefold repetition")


def test_fifty_move_rule(clock: FakeTime) -> None:
    game = new_game(clock, fen="4k3/8/8/8/8/8/R7/4K3 w - - 99 80")
    play(game, "Ra3")
    assert (game.outcome.result, game.outcome.reason) == ("1/2-1/2", "fifty-move rule")


def test_mate_on_the_hundredth_half_move_wins(clock: FakeTime) -> None:
    game = new_game(clock, fen="6k1/5ppp/8/8/8/8/8/R5K1 w - - 99 80")
    play(game, "Ra8#")
    assert game.outcome.reason == "checkmate"


# ------------------------------------------------------------------ clocks

def test_clocks_run_for_the_side_to_move_and_add_increment(clock: FakeTime) -> None:
    game = new_game(clock, "1+2")
    clock.advance(10)
    assert game.remaining(W) == 50 and game.remaining(B) == 60
    game.move(W, "e2e4")
    assert game.remaining(W) == 52  # 60 - 10 + 2
    clock.advance(5)
    assert game.remaining(B) == 55 and game.remaining(W) == 52
    state = game.to_json()
    assert state["running"] == "black" and state["clocks"] == {"white": 52, "black": 55}


def test_flag_fall(clock: FakeTime) -> None:
    game = new_game(clock, "1+0")
    game.move(W, "e2e4")
    clock.advance(59.9)
    assert not game.check_flag()
    clock.advance(0.2)
    assert game.check_flag()
    assert (game.outcome.result, game.outcome.reason, game.outcome.winner) == ("1-0", "timeout", W)
    assert game.to_json()["running"] is None and game.remaining(B) == 0


def test_a_move_after_the_flag_loses_on_time(clock: FakeTime) -> None:
    game = new_game(clock, "1+0")
    clock.advance(61)
    with pytest.raises(IllegalMove, match="over"):
        game.move(W, "e2e4")
    assert game.outcome.reason == "timeout" and game.outcome.result == "0-1"
    assert game.board.move_stack == []


def test_flag_against_a_lone_king_is_a_draw(clock: FakeTime) -> None:
    game = new_game(clock, "1+0", fen="4k3/8/8/8/8/8/8/R3K3 w - - 0 1")
    clock.advance(61)  # white flags, but black has a lone king: nobody can win
    assert game.check_flag()
    assert (game.outcome.result, game.outcome.reason) == ("1/2-1/2", "timeout vs insufficient material")


# ------------------------------------------------------------------ resign, draws, abandon

def test_resign(clock: FakeTime) -> None:
    game = new_game(clock)
    game.resign(B)  # not your turn does not matter for resigning
    assert (game.outcome.result, game.outcome.reason) == ("1-0", "resignation")
    with pytest.raises(IllegalMove):
        game.resign(W)


def test_draw_offer_accept(clock: FakeTime) -> None:
    game = new_game(clock)
    assert game.offer_draw(W) is False
    with pytest.raises(IllegalMove, match="already"):
        game.offer_draw(W)
    with pytest.raises(IllegalMove, match="no draw offer"):
        game.accept_draw(W)
    game.accept_draw(B)
    assert (game.outcome.result, game.outcome.reason) == ("1/2-1/2", "agreement")


def test_crossing_offers_agree(clock: FakeTime) -> None:
    game = new_game(clock)
    game.offer_draw(B)
    assert game.offer_draw(W) is True and game.outcome.reason == "agreement"


def test_draw_offer_declined_or_answered_by_a_move(clock: FakeTime) -> None:
    game = new_game(clock)
    game.offer_draw(W)
    game.decline_draw(B)
    assert game.draw_offer is None and not game.over
    game.offer_draw(W)
    game.move(W, "e2e4")  # the offerer's own move keeps the offer
    assert game.to_json()["draw_offer"] == "white"
    game.move(B, "e7e5")  # the opponent's move declines it
    assert game.draw_offer is None
    with pytest.raises(IllegalMove):
        game.decline_draw(B)


def test_abandon(clock: FakeTime) -> None:
    game = new_game(clock)
    game.abandon(W)
    assert (game.outcome.result, game.outcome.reason) == ("0-1", "abandoned")
    game.abandon(B)  # already over: no change
    assert game.outcome.result == "0-1"


# ------------------------------------------------------------------ PGN

def test_pgn_round_trips(clock: FakeTime) -> None:
    game = new_game(clock, "3+2")
    play(game, "e4", "e5")
    game.resign(W)
    pgn = game.pgn()
    parsed = chess.pgn.read_game(io.StringIO(pgn))
    assert parsed.headers["White"] == "alice" and parsed.headers["Black"] == "bob"
    assert parsed.headers["Result"] == "0-1" and parsed.headers["TimeControl"] == "180+2"
    assert [m.uci() for m in parsed.mainline_moves()] == ["e2e4", "e7e5"]
    assert pgn.rstrip().endswith("0-1")


def test_pgn_of_a_running_game_has_no_result(clock: FakeTime) -> None:
    game = new_game(clock)
    play(game, "d4")
    assert '[Result "*"]' in game.pgn() and game.pgn().rstrip().endswith("*")


def test_abort_ends_the_game_without_a_result(clock: FakeTime) -> None:
    game = ChessGame(TimeControl.parse("5+0"), white="alice", black="bob", now=clock)
    clock.advance(30)  # never started: no clock ran
    game.abort()
    assert game.over and game.to_json()["outcome"] == {"result": "*", "reason": "aborted", "winner": None}
    assert game.remaining(W) == 300 and game.remaining(B) == 300
    pgn = game.pgn()
    assert '[Result "*"]' in pgn and '[Termination "unterminated"]' in pgn
    with pytest.raises(IllegalMove, match="over"):
        game.move(W, "e2e4")
