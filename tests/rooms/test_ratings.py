"""Glicko-2 (rooms/ratings.py) against the worked example of Glickman's paper, the
scores a result gives, and ratings feeding the lobby's bands: a provisional
player (a high deviation) is matched across a wider range."""

from __future__ import annotations

import sqlite3

import pytest

import rooms
from rooms.archive import Archive
from rooms.matching import Bands, Matchmaker, Ticket
from rooms.ratings import Game, Glicko2, Rating, expected_score, update, winner_scores
from tests.rooms.archive_helpers import game_app
from tests.support import Bot, close_all, running


def test_glickmans_worked_example() -> None:
    """Glickman, "Example of the Glicko-2 system" (2013): a 1500 player (RD 200,
    volatility 0.06, tau 0.5) beats a 1400 (RD 30), loses to a 1550 (RD 100) and
    to a 1700 (RD 300): 1464.06, RD 151.52, volatility 0.05999."""
    player = Rating(1500, 200, 0.06)
    games = [Game(Rating(1400, 30, 0.06), 1), Game(Rating(1550, 100, 0.06), 0), Game(Rating(1700, 300, 0.06), 0)]
    after = update(player, games, Glicko2(tau=0.5))
    assert after.rating == pytest.approx(1464.06, abs=0.01)
    assert after.deviation == pytest.approx(151.52, abs=0.01)
    assert after.volatility == pytest.approx(0.05999, abs=0.00001)
    # the paper's intermediate quantities, through the expected scores
    assert [round(expected_score(player, g.opponent), 3) for g in games] == [0.639, 0.432, 0.303]


def test_a_period_without_games_only_widens_the_deviation() -> None:
    after = update(Rating(1500, 200, 0.06), [])
    assert after.rating == 1500 and after.volatility == 0.06
    assert after.deviation == pytest.approx((200**2 + (0.06 * 173.7178) ** 2) ** 0.5)


def test_wins_move_ratings_apart_and_a_draw_between_equals_changes_little() -> None:
    new = Glicko2().new()
    win = update(new, [Game(new, 1.0)])
    loss = update(new, [Game(new, 0.0)])
    draw = update(new, [Game(new, 0.5)])
    assert win.rating - 1500 == pytest.approx(1500 - loss.rating) and win.rating > 1600
    assert draw.rating == pytest.approx(1500) and draw.deviation < 350


@pytest.mark.parametrize(
    ("result", "scores"),
    [
        ({"winner": 0}, [[1.0, 0.0]]),
        ({"winner": 1, "reason": "timeout"}, [[0.0, 1.0]]),
        ({"winner": None, "reason": "draw"}, [[0.5, 0.5]]),
        ({"scores": [[1, 0], [0.5, 0.5]]}, [[1.0, 0.0], [0.5, 0.5]]),
        ({"reason": "player_left"}, None),
        ({"winner": True}, None),
        ({"winner": 7}, None),
        ("a string", None),
    ],
)
def test_winner_scores(result, scores) -> None:
    assert winner_scores(result) == scores


def test_spread_grows_with_the_deviation() -> None:
    ratings = rooms.Ratings()
    assert ratings.spread(350) == 250 and ratings.spread(100) == 0 and ratings.spread(40) == 0
    assert rooms.Ratings(settled_deviation=50, widen_per_deviation=0.5).spread(150) == 50


def test_a_ticket_spread_widens_the_pairs_it_is_in() -> None:
    mm = Matchmaker(2, bands=Bands(band=100, widen_per_second=0))
    assert mm.add(Ticket("settled-high", "k", 0.0, 1800), 0.0) == []
    assert mm.add(Ticket("settled-low", "k", 1.0, 1600), 1.0) == []  # 200 apart, both settled
    groups = mm.add(Ticket("newcomer", "k", 2.0, 1500, spread=250), 2.0)  # 300 from the first: 100 + 250 covers it
    assert [[t.id for t in g] for g in groups] == [["settled-high", "newcomer"]]


async def test_a_lobby_matches_by_stored_ratings_wider_for_a_provisional_player(tmp_path) -> None:
    db = tmp_path / "games.db"
    async with Archive(f"sqlite:///{db}"):
        pass
    conn = sqlite3.connect(db)
    for player, rating in (("high", 1800.0), ("low", 1600.0)):
        conn.execute(
            "INSERT INTO rooms_ratings VALUES ('first_word_wins', '', ?, ?, ?, 50.0, 0.06, 40, 20, 0, 20, 0)", (player, player, rating)
        )
    conn.commit()
    conn.close()
    app, lobby = game_app(archive=f"sqlite:///{db}", ratings=True, bands=Bands(band=100, widen_per_second=0))
    assert lobby.bands == Bands(band=100, widen_per_second=0)
    async with running(app) as server:
        high = await Bot.connect(server, "/game", name="high")
        await high.recv_type("lobby")
        low = await Bot.connect(server, "/game", name="low")
        await low.recv_type("lobby")
        assert await high.recv() == {"type": "lobby", "have": 2, "need": 2, "position": 1}
        await high.nothing(0.6)  # 200 apart with settled ratings: no match
        newcomer = await Bot.connect(server, "/game", name="newcomer")  # 1500, deviation 350
        matched = await newcomer.recv_type("matched")
        assert [p["name"] for p in matched["players"]] == ["high", "newcomer"]
        await high.recv_type("matched")
        await close_all([high, low, newcomer])
    await lobby.archive.aclose()


def test_ratings_need_an_archive() -> None:
    with pytest.raises(ValueError, match="archive="):
        rooms.Lobby(2, lambda room: None, ratings=True)
