"""Fifty chess games between bots of known strengths, through the example server
with an archive and ratings: every game archived once, the ratings exactly as
Glicko-2 says (against the computation below, written apart from
rooms/ratings.py: bisection instead of the Illinois method for the volatility),
and the bots ranked in the order of their strengths.

A bot's strength is how often it plays its best move by a one-move look-ahead
(mate, then material won less material left hanging) instead of a random legal
move.  It resigns 10 points of material down; after 160 plies the side to
move offers a draw, and the other accepts: so no game runs for ever.
"""

from __future__ import annotations

import math
import random
from typing import Any

import chess
import pytest

import rooms
from examples.games.chess import history
from examples.server import make_site
from tests.rooms.archive_helpers import identify
from tests.support import running, scaled

from .bots import ChessBot

STRENGTHS = {"master": 1.0, "club": 0.6, "novice": 0.0}
GAMES = 50
VALUE = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}


def material(board: chess.Board, color: chess.Color) -> int:
    return sum(VALUE[p.piece_type] for p in board.piece_map().values() if p.color == color)


def choose(board: chess.Board, strength: float, rng: random.Random) -> chess.Move:
    moves = list(board.legal_moves)
    if rng.random() >= strength:
        return rng.choice(moves)
    best, best_score = [], -math.inf
    for move in moves:
        gain = VALUE[board.piece_type_at(move.to_square)] if board.is_capture(move) and not board.is_en_passant(move) else 0
        gain += 1 if board.is_en_passant(move) else 0
        gain += 8 if move.promotion == chess.QUEEN else 0
        mover = board.piece_type_at(move.from_square)
        board.push(move)
        if board.is_checkmate():
            score = 1000.0
        else:
            hanging = VALUE[move.promotion or mover] if board.is_attacked_by(board.turn, move.to_square) else 0
            score = gain - hanging + rng.random() * 0.1
        board.pop()
        if score > best_score:
            best, best_score = [move], score
        elif score == best_score:
            best.append(move)
    return rng.choice(best)


async def play_game(server, white_name: str, black_name: str, rng: random.Random) -> str:
    """Seat the two bots, play until the game is over, leave; the room id."""
    first = await ChessBot.connect(server, "/chess/ws", name=white_name)
    await first.recv_type("lobby")
    second = await ChessBot.connect(server, "/chess/ws", name=black_name)
    bots = [first, second]
    for bot in bots:
        await bot.wait_matched()
        await bot.wait_start()
    by_color = {bot.color: bot for bot in bots}
    strength = {bot.color: STRENGTHS[bot.name] for bot in bots}
    board = chess.Board()
    offered = False
    while True:
        color = "white" if board.turn == chess.WHITE else "black"
        bot = by_color[color]
        other = by_color["black" if color == "white" else "white"]
        if material(board, board.turn) - material(board, not board.turn) <= -10:
            bot.send({"type": "resign"})
        elif board.ply() >= 160 and not offered:
            offered = True
            bot.send({"type": "offer_draw"})
            await other.recv_type("draw_offer")
            other.send({"type": "accept_draw"})
        else:
            move = choose(board, strength[color], rng)
            bot.send({"type": "move", "uci": move.uci()})
            msg = await bot.recv_type("move", "game_over", "error", timeout=scaled(10))
            assert msg["type"] != "error", msg
            if msg["type"] == "move":
                board.push(move)
                await other.recv_type("move", timeout=scaled(10))
                if msg["state"]["outcome"] is None:
                    continue
        break
    for bot in bots:
        await bot.recv_type("game_over", timeout=scaled(10))
    first.send({"type": "leave"})
    for bot in bots:
        await bot.recv_type("ended")
        await bot.aclose()
    return first.matched["room"]


# ---------------------------------------------------------------------- Glicko-2, independently

Q = 173.7178


def glicko2(r: float, rd: float, vol: float, games: list[tuple[float, float, float]], tau: float = 0.5) -> tuple[float, float, float]:
    """One rating period: *games* are (opponent rating, opponent RD, score)."""
    mu, phi = (r - 1500) / Q, rd / Q
    if not games:
        return r, Q * math.sqrt(phi**2 + vol**2), vol
    g = [1 / math.sqrt(1 + 3 * (orr / Q) ** 2 / math.pi**2) for _, orr, _ in games]
    e = [1 / (1 + math.exp(-gj * (mu - (opp - 1500) / Q))) for gj, (opp, _, _) in zip(g, games)]
    v = 1 / sum(gj**2 * ej * (1 - ej) for gj, ej in zip(g, e))
    delta = v * sum(gj * (s - ej) for gj, ej, (_, _, s) in zip(g, e, games))
    a = math.log(vol**2)

    def f(x: float) -> float:
        return math.exp(x) * (delta**2 - phi**2 - v - math.exp(x)) / (2 * (phi**2 + v + math.exp(x)) ** 2) - (x - a) / tau**2

    lo, hi = a - 1.0, a + 1.0  # f is decreasing: widen until the root is inside, then bisect
    while f(lo) < 0:
        lo -= 1.0
    while f(hi) > 0:
        hi += 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    new_vol = math.exp((lo + hi) / 4)
    phi_star = math.sqrt(phi**2 + new_vol**2)
    new_phi = 1 / math.sqrt(1 / phi_star**2 + 1 / v)
    new_mu = mu + new_phi**2 * sum(gj * (s - ej) for gj, ej, (_, _, s) in zip(g, e, games))
    return Q * new_mu + 1500, Q * new_phi, new_vol


@pytest.mark.timeout(600)
async def test_fifty_games_between_bots_of_known_strengths(tmp_path) -> None:
    archive = rooms.Archive(f"sqlite:///{tmp_path / 'games.db'}")
    site = make_site(
        time_controls={"5+0": (300, 0)},
        chess_options={
            "auth": identify,
            "archive": archive,
            "ratings": rooms.Ratings(score=history.scores),
            "bands": rooms.Bands(band=3000),  # every pair meets at once: the schedule below decides
            "rng": random.Random(7),
        },
    )
    rng = random.Random(2024)
    pairs = [("master", "club"), ("club", "novice"), ("novice", "master")]
    played = []
    async with running(site.app) as server:
        for i in range(GAMES):
            a, b = pairs[i % 3]
            played.append(await play_game(server, a, b, rng))
    await archive.flush(scaled(10))
    games = await archive.games(lobby=site.chess.name, limit=1000)
    assert sorted(g.room_id for g in games) == sorted(played) and len(set(played)) == GAMES  # each once
    # Replay the archive in the order it was rated, with the computation above.
    state = {name: (1500.0, 350.0, 0.06) for name in STRENGTHS}
    for game in sorted(games, key=lambda g: g.seq):
        assert game.rated and len(game.scores) == 1
        (s0, s1), = game.scores
        p0, p1 = game.players
        before = {p.id: state[p.id] for p in game.players}
        for seat, score in ((p0, s0), (p1, s1)):
            other = p1 if seat is p0 else p0
            mine = before[seat.id]
            assert seat.rating_before == pytest.approx(mine[0], abs=1e-6) and seat.deviation_before == pytest.approx(mine[1], abs=1e-6)
            state[seat.id] = glicko2(*mine, [(before[other.id][0], before[other.id][1], score)])
            assert seat.rating_after == pytest.approx(state[seat.id][0], abs=1e-6)
            assert seat.deviation_after == pytest.approx(state[seat.id][1], abs=1e-6)
    board = await archive.leaderboard(site.chess.name, "5+0")
    for row in board:
        assert (row.rating, row.deviation, row.volatility) == pytest.approx(state[row.player], abs=1e-6)
    assert sum(row.games for row in board) == 2 * GAMES
    assert [row.player for row in board] == ["master", "club", "novice"], [(r.player, round(r.rating), r.wins, r.draws, r.losses) for r in board]
    await archive.aclose()
