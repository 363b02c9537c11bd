"""The docs' worked exchanges, replayed byte for byte against the server that
``make run`` starts (``examples.server.make_app()``, the app its ``main`` serves)."""

from __future__ import annotations

from examples.server import make_app
from tests.conftest import running

from .exchanges import exchange_in, replay


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
