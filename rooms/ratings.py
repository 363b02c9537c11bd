"""Glicko-2 ratings, sans-I/O: Mark Glickman's published algorithm, and how a
lobby turns a room's result into rated games.

The algorithm is the one of Glickman's "Example of the Glicko-2 system"
(2013): a rating ``r``, a rating deviation ``RD`` (how uncertain ``r`` is) and
a volatility ``sigma`` per player, updated once per *rating period* from the
games played in it.  Here a room that ends is one rating period for its two
players, holding the games the room's result says were played (a chess room
with rematches holds several).  A player who plays no game in a period is not
touched: the library has no clock that ages deviations between games.

:class:`Ratings` is what ``Lobby(ratings=...)`` takes: how to read the scores
out of a result (:func:`winner_scores` by default), the system's constants
(:class:`Glicko2`), and how much wider a provisional player's band is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["Glicko2", "Rating", "Game", "Ratings", "update", "expected_score", "winner_scores"]

SCALE = 173.7178  # Glicko-2 step 2: the ratio between the Glicko and Glicko-2 scales
BASE = 1500.0


@attrs.frozen(kw_only=True)
class Glicko2:
    """The system's constants: a new player's rating, deviation and volatility,
    ``tau`` (how much the volatility may change; Glickman suggests 0.3 to 1.2)
    and ``epsilon``, the convergence tolerance of step 5."""

    rating: float = 1500.0
    deviation: float = 350.0
    volatility: float = 0.06
    tau: float = 0.5
    epsilon: float = 0.000001

    def new(self) -> Rating:
        """An unrated player's rating."""
        return Rating(self.rating, self.deviation, self.volatility)


@attrs.frozen(slots=True)
class Rating:
    """One player's rating on the Glicko scale: ``rating`` (1500 for a newcomer),
    ``deviation`` (RD) and ``volatility`` (sigma)."""

    rating: float
    deviation: float
    volatility: float


@attrs.frozen(slots=True)
class Game:
    """One game of a rating period: the *opponent*'s rating before the period and
    the player's *score* (1 a win, 0.5 a draw, 0 a loss)."""

    opponent: Rating
    score: float


def _g(phi: float) -> float:
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def _e(mu: float, mu_j: float, phi_j: float) -> float:
    return 1.0 / (1.0 + math.exp(-_g(phi_j) * (mu - mu_j)))


def expected_score(player: Rating, opponent: Rating) -> float:
    """The score *player* is expected to make against *opponent* (step 3's ``E``)."""
    return _e((player.rating - BASE) / SCALE, (opponent.rating - BASE) / SCALE, opponent.deviation / SCALE)


def update(player: Rating, games: Sequence[Game], system: Glicko2 | None = None) -> Rating:
    """*player*'s rating after a rating period in which they played *games*.

    Steps 2 to 8 of Glickman's example; with no games only the deviation grows
    (step 6 on its own).
    """
    system = system or Glicko2()
    mu = (player.rating - BASE) / SCALE
    phi = player.deviation / SCALE
    sigma = player.volatility
    if not games:
        return Rating(player.rating, SCALE * math.sqrt(phi * phi + sigma * sigma), sigma)
    # Step 3: the estimated variance v of the rating from the game outcomes alone.
    terms = []
    for game in games:
        mu_j = (game.opponent.rating - BASE) / SCALE
        phi_j = game.opponent.deviation / SCALE
        terms.append((_g(phi_j), _e(mu, mu_j, phi_j), game.score))
    v = 1.0 / sum(g * g * e * (1.0 - e) for g, e, _ in terms)
    # Step 4: the estimated improvement delta.
    improvement = sum(g * (s - e) for g, e, s in terms)
    delta = v * improvement
    sigma = _volatility(phi, sigma, v, delta, system.tau, system.epsilon)
    # Steps 6 and 7: the new deviation and rating.
    phi_star = math.sqrt(phi * phi + sigma * sigma)
    phi = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)
    mu = mu + phi * phi * improvement
    # Step 8: back to the Glicko scale.
    return Rating(SCALE * mu + BASE, SCALE * phi, sigma)


def _volatility(phi: float, sigma: float, v: float, delta: float, tau: float, epsilon: float) -> float:
    """Step 5: the new volatility, the root of f by the Illinois algorithm."""
    a = math.log(sigma * sigma)

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta * delta - phi * phi - v - ex) / (2.0 * (phi * phi + v + ex) ** 2) - (x - a) / (tau * tau)

    big_a = a
    if delta * delta > phi * phi + v:
        big_b = math.log(delta * delta - phi * phi - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > epsilon:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


# ---------------------------------------------------------------------- a lobby's ratings


Scores = list[Sequence[float]]
"""The games of one room, each as the points every seat scored (``[1, 0]``: seat 0
won; ``[0.5, 0.5]``: a draw)."""


def winner_scores(result: Any) -> Scores | None:
    """The default way to read a 2-player room's result: its ``"scores"`` (a list
    of per-seat scores, one per game) when it has them, else its ``"winner"``
    (a seat number; ``None`` for a draw).  ``None`` (unrated) when it has neither,
    e.g. a ``player_left`` result."""
    if not isinstance(result, dict):
        return None
    scores = result.get("scores")
    if isinstance(scores, list):
        return [list(map(float, game)) for game in scores if isinstance(game, list | tuple) and len(game) == 2]
    if "winner" not in result:
        return None
    winner = result["winner"]
    if winner is None:
        return [[0.5, 0.5]]
    if winner in (0, 1) and not isinstance(winner, bool):
        return [[1.0, 0.0] if winner == 0 else [0.0, 1.0]]
    return None


@attrs.frozen(kw_only=True)
class Ratings:
    """What ``Lobby(ratings=...)`` takes: rate the lobby's 2-player rooms.

    ``score(room, result)`` gives the games the room played as per-seat scores
    (:data:`Scores`), or ``None`` for an unrated room; by default
    :func:`winner_scores` of the result.  ``system`` holds the Glicko-2
    constants.  A player's band widens by ``widen_per_deviation`` points per
    point of deviation above ``settled_deviation``: a provisional player (a
    newcomer has 350) is matched across a wider range.
    """

    score: Callable[[Any, Any], Scores | None] = attrs.field(default=lambda room, result: winner_scores(result))
    system: Glicko2 = attrs.field(factory=Glicko2)
    settled_deviation: float = 100.0
    widen_per_deviation: float = 1.0

    def spread(self, deviation: float) -> float:
        """How much wider than the lobby's bands this deviation makes a player's."""
        return max(0.0, deviation - self.settled_deviation) * self.widen_per_deviation
