"""The docs' worked exchanges, replayed byte for byte against the server that
``make run`` starts (``examples.server.make_app()``, the app its ``main`` serves):
protocol.md's (tic-tac-toe), and games.md's for chess and chat."""

from __future__ import annotations

import random

from examples.server import make_app, make_site
from tests.support import running

from .exchanges import exchange_in, replay
from .pages import wait_until


async def test_the_protocol_docs_example_exchange_runs_against_make_runs_server() -> None:
    steps = exchange_in("protocol.md", "## A complete example exchange")
    assert len(steps) > 30 and steps[0].body.startswith("GET /tictactoe?")
    async with running(make_app()) as server:
        received = await replay(
            steps,
            server,
            groups={"both": ["alice", "bob"], "all": ["alice", "bob", "carol"]},
            examples={"room": "hVvkNFCcHlh0"},
        )
    assert [len(received[who]) for who in ("alice", "bob", "carol")] == [11, 12, 6]


async def test_the_chess_example_exchange_of_games_md() -> None:
    steps = exchange_in("games.md", "### An example exchange")
    # make run's server with one change: colours not swapped, as in the doc
    # (Random(0).random() is 0.84, and a Table swaps the first two seats below 0.5).
    site = make_site(chess_options={"rng": random.Random(0)})
    async with running(site.app) as server:
        received = await replay(steps, server, groups={"both": ["alice", "bob"]}, examples={"code": "K7QM2D", "room": "hVvkNFCcHlh0"})
    assert len(received["alice"]) == 11 and len(received["bob"]) == 10


async def test_the_chat_example_exchange_of_games_md() -> None:
    steps = exchange_in("games.md", "An exchange in an open room")
    site = make_site()
    async with running(site.app) as server:
        received = await replay(steps, server, groups={"both": ["alice", "bob"]}, examples={})
        await wait_until(lambda: not site.chat_rooms.rooms)  # alice's close (replay's end) empties the room
    assert len(received["alice"]) == 6 and len(received["bob"]) == 3
