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
from typing import Any, Self

import rooms
import ws
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import Bot, close_all, eventually, running


async def hold(room: rooms.Room) -> str:
    async for _player, message in room:
        if message == "end":
            return "done"
    return "done"


@contextlib.asynccontextmanager
async def nodes(url: str | list[str], n: int, count: int = 2, **lobby_options: Any) -> AsyncIterator[list[ws.Server]]:
    """*count* servers, each with a lobby of *n* on its own ``RedisBackend`` node
    (connected to Redis at *url*, or at ``url[i]`` for node i)."""
    urls = [url] * count if isinstance(url, str) else url
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for i, node_url in enumerate(urls):
            backend = rooms.RedisBackend(node_url, prefix="m:", node_id=f"n{i}", heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
            app = ws.App()
            app.route("/game")(rooms.Lobby(n, hold, backend=backend, name="game", **lobby_options))
            server = await stack.enter_async_context(running(app))
            await backend.start(server)
            servers.append(server)
        yield servers


class LosingProxy:
    """A TCP relay to redis-server that can lose replies: while ``losing``, a
    command whose bytes contain *marker* still reaches Redis and runs there, but
    its reply is dropped and the client's connection cut, as a network failure
    after the request went out would.  ``lost`` and ``answered`` count the
    replies to such commands dropped and delivered.  (A real relay between the
    real client and the real server, not a mock.)"""

    def __init__(self, redis_port: int, marker: bytes) -> None:
        self.redis_port = redis_port
        self.marker = marker
        self.losing = False
        self.lost = 0
        self.answered = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        self._writers |= {client_writer, redis_writer}
        marked: str | None = None  # "lose" or "answer": what to do with the next reply

        async def requests() -> None:
            nonlocal marked
            while data := await client_reader.read(65536):
                if self.marker in data:
                    marked = "lose" if self.losing else "answer"  # set before the request goes
                redis_writer.write(data)

        async def replies() -> None:
            nonlocal marked
            while data := await redis_reader.read(65536):
                if marked == "lose":
                    self.lost += 1
                    return
                client_writer.write(data)
                if marked == "answer":
                    self.answered += 1
                marked = None

        try:
            pumps = [asyncio.ensure_future(requests()), asyncio.ensure_future(replies())]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in (client_writer, redis_writer):
                writer.transport.abort()
                self._writers.discard(writer)


async def queued(server: ws.Server, *, name: str, **query: Any) -> Bot:
    """A player who waits: its ``lobby`` status says the ticket is in the queue."""
    bot = await Bot.connect(server, name=name, **query)
    await bot.recv_type("lobby")
    return bot


async def queue_is_empty(redis: Any) -> bool:
    client = redis.client()
    try:
        return not await client.keys("m:q:*")
    finally:
        await client.aclose()


async def status_until(bot: Bot, *, paused: bool) -> dict[str, Any]:
    """The next ``lobby`` status that says matching is paused (or is not)."""
    while True:
        status = await bot.recv_type("lobby")
        if (status.get("status") == "paused") is paused:
            return status


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


async def test_a_join_retried_after_its_reply_was_lost_keeps_the_first_place(redis_server):
    # alice's join runs in Redis but its reply is lost, so her node retries it
    # (its client at once, then the backend once Redis answers again), not
    # knowing the ticket is queued: the retries must find the ticket and leave
    # it where it is, first in line, ahead of bob who joined in between.
    proxy = LosingProxy(redis_server.port, b"lost-reply-alice")
    async with proxy, nodes([proxy.url, redis_server.url], 3) as (lossy, direct):
        # A first player loads the scripts into Redis through the relay (a lost
        # reply to the very first call would be NOSCRIPT's), then leaves.
        warm = await queued(lossy, name="warm-up")
        await warm.aclose()
        await eventually(lambda: queue_is_empty(redis_server))
        proxy.losing = True
        alice = await Bot.connect(lossy, name="lost-reply-alice")
        await status_until(alice, paused=True)
        assert proxy.lost >= 1 and proxy.answered == 0
        bob = await Bot.connect(direct, name="bob")
        assert (await bob.recv_type("lobby"))["have"] == 2  # alice's ticket is in Redis
        proxy.losing = False  # the network heals: alice's node joins her again
        await eventually(lambda: proxy.answered >= 1)  # a retry went through
        carol = await Bot.connect(direct, name="carol")
        for bot in (alice, bob, carol):
            assert names(await bot.recv_type("matched")) == ["lost-reply-alice", "bob", "carol"]
        bob.send("end")
        await close_all([alice, bob, carol])


async def test_a_ticket_of_a_dead_process_is_never_seated(redis_server):
    """A process paused or cut off past node_ttl: its node key has expired, but
    no live process has swept it yet.  A join that would complete a group with
    its waiting ticket must not seat that ticket (its player would never hear of
    it, and the others would wait out its grace time): the join buries the dead
    process first, as the sweep would, and the newcomer waits for a live partner."""
    from rooms.cluster import scripts

    r = redis_server.client()
    join = r.register_script(scripts.JOIN)
    p = "dead:"
    for node in ("alive", "dead"):
        await r.set(p + "node:" + node, "1")
        await r.sadd(p + "nodes", node)

    async def queue(node: str, ticket: str) -> list[Any]:
        # ARGV: P, queue, ticket, node, at, rating, data, n, lobby, band, widen, max_band, spread, durable
        return await join(args=[p, "q", ticket, node, "", "", "{}", 2, "game", "", "", "", "0", ""])

    assert (await queue("dead", "t-dead"))[0] == 1
    await r.delete(p + "node:dead")  # its lease lapsed: the key expired
    assert (await queue("alive", "t-new"))[0] == 1
    assert await r.keys(p + "room:*") == []  # no room with a ghost seat
    assert await r.zrange(p + "q:q", 0, -1) == [b"t-new"]  # the newcomer waits
    assert not await r.exists(p + "t:t-dead")
    assert not await r.sismember(p + "nodes", "dead")  # buried, as a sweep does
    assert (await queue("alive", "t-next"))[0] == 1  # a live partner: matched
    rooms_made = await r.keys(p + "room:*")
    assert len(rooms_made) == 1
    assert (await r.hget(rooms_made[0], "host")) == b"alive"
    await r.aclose()
