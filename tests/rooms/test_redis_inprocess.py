"""The Redis backend with two nodes in one test process (two servers, two
backends, one real redis-server): rating bands, private codes and max_wait
across nodes, and a clean shutdown that leaves no task behind."""

from __future__ import annotations

import asyncio
import contextlib
import time

import rooms
import ws
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import Bot, eventually, running, scaled


async def hold(room):
    async for _player, msg in room:
        if msg == "end":
            return "done"


@contextlib.asynccontextmanager
async def two_nodes(redis_server, **lobby_options):
    servers, lobbies = [], []
    async with contextlib.AsyncExitStack() as stack:
        for name in ("x", "y"):
            backend = rooms.RedisBackend(redis_server.url, prefix="t:", node_id=name, heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
            app = ws.App()
            lobby = rooms.Lobby(2, hold, backend=backend, **lobby_options)
            app.route("/game")(lobby)
            server = await stack.enter_async_context(running(app))
            await backend.start(server)
            servers.append(server)
            lobbies.append(lobby)
        yield servers, lobbies


async def test_rating_bands_widen_across_nodes(redis_server):
    bands = rooms.Bands(band=100, widen_per_second=400, max_band=1000)
    async with two_nodes(redis_server, rating=lambda r: float(r.query["r"]), bands=bands) as (servers, lobbies):
        low = await Bot.connect(servers[0], name="low", r=1000)
        await low.recv_type("lobby")
        near = await Bot.connect(servers[1], name="near", r=1050)  # within 100: at once
        assert [p["name"] for p in (await near.recv_type("matched"))["players"]] == ["low", "near"]
        await low.recv_type("matched")
        far1 = await Bot.connect(servers[0], name="far1", r=1000)
        await far1.recv_type("lobby")
        far2 = await Bot.connect(servers[1], name="far2", r=1500)
        status = await far2.recv_type("lobby")
        assert status["have"] == 2  # 500 apart: not yet
        t0 = time.monotonic()
        await far2.recv_type("matched", timeout=scaled(5))  # the band reaches 500 after about 1 s
        assert time.monotonic() - t0 > 0.5
        for bot in (low, near, far1):
            bot.send("end")
        await asyncio.gather(*(b.aclose() for b in (low, near, far1, far2)))


async def test_private_codes_across_nodes(redis_server):
    async with two_nodes(redis_server, private=True) as (servers, lobbies):
        host = await Bot.connect(servers[0], name="a", code="new")
        code = (await host.recv_type("lobby"))["code"]
        stranger = await Bot.connect(servers[1], name="s", code="ZZZZZZ")
        assert (await stranger.recv_type("error"))["error"] == "unknown_room"
        assert (await stranger.closed()).code == 4004
        public = await Bot.connect(servers[1], name="p")
        await public.recv_type("lobby")
        friend = await Bot.connect(servers[1], name="b", code=code.lower())
        matched = await friend.recv_type("matched")
        assert [p["name"] for p in matched["players"]] == ["a", "b"]
        host.send("end")
        await asyncio.gather(*(b.aclose() for b in (host, friend, public)))


async def test_max_wait_across_nodes_removes_the_ticket(redis_server):
    async with two_nodes(redis_server, max_wait=0.5) as (servers, lobbies):
        bot = await Bot.connect(servers[0], name="a")
        await bot.recv_type("lobby")
        assert (await bot.recv_type("error"))["error"] == "lobby_timeout"
        assert (await bot.closed()).code == 4000
        r = redis_server.client()
        try:
            await eventually(lambda: _no_queues(r))
        finally:
            await r.aclose()
        late = await Bot.connect(servers[1], name="b")
        assert (await late.recv_type("lobby"))["have"] == 1
        await late.aclose()


async def _no_queues(r) -> bool:
    return not await r.keys("t:q:*")
