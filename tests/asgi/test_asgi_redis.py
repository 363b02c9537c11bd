"""A Redis backend under ``ws.asgi``: the lifespan startup joins the cluster
before any connection, shutdown leaves it; two uvicorn nodes (in this process,
one real redis-server) match players connected to either, bridge the player of
the other node to the room's host (the edge side holds an ``ASGISocket``), and
take a reconnect and a spectator through either node."""

from __future__ import annotations

import contextlib

import pytest

import rooms
import ws
from examples import tictactoe
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import TIMEOUT, eventually
from tests.support.asgi import uvicorn_running

from .helpers import play_tictactoe

pytest.importorskip("uvicorn")
redis = pytest.importorskip("redis.asyncio")

ZERO = {"http_connections": 0, "websockets": 0, "tasks": 0}


def node(redis_url: str, name: str) -> tuple[ws.ASGIApp, rooms.Lobby]:
    backend = rooms.RedisBackend(redis_url, prefix="a:", node_id=name, heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
    lobby = rooms.Lobby(2, tictactoe.tictactoe.game, reconnect=10, backend=backend, name="ttt")
    app = ws.App()
    app.route("/ttt")(lobby)
    return ws.asgi(app), lobby


async def test_lifespan_joins_and_leaves_the_cluster_and_two_nodes_play(redis_server) -> None:  # noqa: F811
    client = redis.Redis.from_url(redis_server.url)
    try:
        apps = [node(redis_server.url, name) for name in ("one", "two")]
        async with contextlib.AsyncExitStack() as stack:
            servers = [await stack.enter_async_context(uvicorn_running(app)) for app, _ in apps]
            # started by the lifespan, before anyone connected
            assert await client.exists("a:node:one") and await client.exists("a:node:two")
            creds = {"alice": [], "bob": [], "carol": []}
            result = await play_tictactoe(servers, "/ttt", creds, names_in_query=True)
            assert result["winner"] == 0
            assert [lobby.results[-1][1] for _, lobby in apps if lobby.results] == [result]
        # uvicorn's shutdown ran the lifespan shutdown: both nodes left at once
        assert not await client.exists("a:node:one") and not await client.exists("a:node:two")
        for app, _ in apps:
            await eventually(lambda app=app: app.server.statistics() == ZERO, TIMEOUT)
    finally:
        await client.aclose()
