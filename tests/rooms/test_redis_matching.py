"""The Lua matcher of ``rooms.RedisBackend`` keeps the promises of
``rooms.matching``: first come, first served (seats in join order), groups
filled with the oldest compatible tickets, and a ticket queued at most once,
even when a join is retried after its reply was lost.

Everything goes through the public surface: lobbies on ``RedisBackend`` nodes in
this process (one real redis-server), players as ``tests.support.Bot``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import rooms
import ws
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import Bot, close_all, running


async def hold(room: rooms.Room) -> str:
    async for _player, message in room:
        if message == "end":
            return "done"
    return "done"


@contextlib.asynccontextmanager
async def nodes(url: str, n: int, count: int = 2, **lobby_options: Any) -> AsyncIterator[list[ws.Server]]:
    """*count* servers, each with a lobby of *n* on its own ``RedisBackend`` node."""
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for i in range(count):
            backend = rooms.RedisBackend(url, prefix="m:", node_id=f"n{i}", heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
            app = ws.App()
            app.route("/game")(rooms.Lobby(n, hold, backend=backend, name="game", **lobby_options))
            server = await stack.enter_async_context(running(app))
            await backend.start(server)
            servers.append(server)
        yield servers


async def queued(server: ws.Server, *, name: str, **query: Any) -> Bot:
    """A player who waits: its ``lobby`` status says the ticket is in the queue."""
    bot = await Bot.connect(server, name=name, **query)
    await bot.recv_type("lobby")
    return bot


def names(matched: dict[str, Any]) -> list[str]:
    return [player["name"] for player in matched["players"]]


async def test_groups_are_seated_in_join_order(redis_server):
    # Two modes, each a queue of three, joined alternately through two nodes:
    # every group holds the oldest tickets of its queue, seated oldest first.
    async with nodes(redis_server.url, 3, mode=lambda r: r.query["mode"]) as servers:
        groups = {"a": ["p0", "p2", "p4"], "b": ["p1", "p3", "p5"]}
        bots = []
        for i in range(6):
            mode = "ab"[i % 2]
            connect = queued if i < 4 else Bot.connect  # p4 and p5 complete their groups
            bots.append((mode, await connect(servers[i % 2], name=f"p{i}", mode=mode)))
        for mode, bot in bots:
            assert names(await bot.recv_type("matched")) == groups[mode], bot.name
        bots[0][1].send("end")
        bots[1][1].send("end")
        await close_all([bot for _, bot in bots])


async def test_a_group_is_filled_with_the_oldest_compatible_tickets(redis_server):
    # Bands that never widen: 1000 and 1500 cannot play each other, 1250 can play
    # either.  The oldest ticket (1000) anchors the group and takes 1250; 1500 waits.
    bands = rooms.Bands(band=300, widen_per_second=0, max_band=None)
    async with nodes(redis_server.url, 2, rating=lambda r: float(r.query["r"]), bands=bands) as servers:
        low = await queued(servers[0], name="low", r=1000)
        high = await queued(servers[1], name="high", r=1500)
        middle = await Bot.connect(servers[1], name="middle", r=1250)
        assert names(await middle.recv_type("matched")) == ["low", "middle"]
        assert names(await low.recv_type("matched")) == ["low", "middle"]
        # 1500 is still first in line: the next compatible ticket joins it.
        late = await Bot.connect(servers[0], name="late", r=1400)
        assert names(await late.recv_type("matched")) == ["high", "late"]
        low.send("end")
        high.send("end")
        await close_all([low, high, middle, late])


async def test_a_rated_group_of_three_takes_the_oldest_compatible_in_join_order(redis_server):
    # 1000 and 1100 wait for a third; 1600 fits neither; 1050 fits both and
    # completes the group, seated last: [1000, 1100, 1050].
    bands = rooms.Bands(band=300, widen_per_second=0, max_band=None)
    async with nodes(redis_server.url, 3, rating=lambda r: float(r.query["r"]), bands=bands) as servers:
        first = await queued(servers[0], name="first", r=1000)
        second = await queued(servers[1], name="second", r=1100)
        far = await queued(servers[0], name="far", r=1600)
        last = await Bot.connect(servers[1], name="last", r=1050)
        for bot in (first, second, last):
            assert names(await bot.recv_type("matched")) == ["first", "second", "last"]
        first.send("end")
        await close_all([first, second, far, last])
