"""The two matchers side by side: a hypothesis state machine drives
``rooms.matching.Matchmaker`` and, with the same joins and leaves, lobbies on
two ``rooms.RedisBackend`` nodes sharing one real redis-server (the Lua
scripts), and checks that both seat the same players in the same groups in the
same seat order, queue the rest in the same order, and refuse the same joins.

The joins vary the node, the game mode, the private code (none, a new one, one
made earlier, one that does not exist) and the rating; leaves close or drop the
connection; waits move the time on.  Both sides read one fake clock: the
backends through ``RedisBackend(clock=...)`` (the Lua scripts take the time as
an argument instead of reading Redis's ``TIME``), the Matchmaker as the ``now``
of ``add`` and ``tick``.  Rating bands widen with it (50, +25 a second, up to
200), so a wait can make groups possible, which ``Matchmaker.tick(now)`` and
the backends' periodic re-match (``TICK``, every presence loop turn) must
both find; for n = 3 a leave can too (the greedy fill).  Waits are whole
seconds; each join moves the clock on by 1/64 s only, so that join times
differ (Redis orders equal ones by its random ticket ids), yet with fewer than
64 joins no band reaches a rating difference between two waits (differences
are multiples of 25, reached after whole numbers of seconds): a re-match the
backend runs between joins finds nothing new, as the Matchmaker, which
re-matches only on a leave or a wait, expects (each join checks it).  The
clock's readings are multiples of 1/64, exact in binary and in the scripts'
``%.6f``.

A leave lands in Redis a moment after the connection closes; the machine waits
for it by counting the queued tickets in Redis (as the randomized cluster test
does), so that the next join meets the same queue on both sides.  After a
leave or a wait it also waits for every node with rated players waiting to
have re-matched at the current time: for two reads of its clock (a re-match
reads it once for all its queues, so the second read starts a turn after a
whole one), so a re-match still on its way cannot meet the next join.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

import rooms
import ws
from rooms import Bands, Matchmaker, Ticket
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import TIMEOUT, Bot, eventually, running, scaled

BANDS = Bands(band=50.0, widen_per_second=25.0, max_band=200.0)
FIXED_BAND = Bands(band=100.0, widen_per_second=0.0, max_band=None)
START = 1_000_000.0  # the fake clock's first reading
JOIN_STEP = 1 / 64  # the clock's move at each join (see the docstring)
MODES = ["blitz", "rapid"]
# Differences of 25 to 400: compatible at once (up to 50), after 1 to 6 s of waiting, or never.
RATINGS = st.sampled_from([1000.0, 1025.0, 1075.0, 1150.0, 1250.0, 1400.0])
prefixes = itertools.count()
WAIT = scaled(2)  # for one step's messages: short, as hypothesis re-runs a failing example while shrinking


async def hold(room: rooms.Room) -> None:
    async for _player, _message in room:
        pass


class Matchers(RuleBasedStateMachine):
    """One example: a fresh pair of nodes (a key prefix of its own) and a fresh
    Matchmaker, driven in step; every step waits until the cluster has done
    what the Matchmaker says, so the order of events is the same on both."""

    def __init__(self, redis_url: str, n: int, rated: bool) -> None:
        super().__init__()
        self.n, self.rated = n, rated
        self.mm = Matchmaker(n, bands=BANDS if rated else None)
        self.prefix = f"d{next(prefixes)}:"
        self.numbers = itertools.count()
        self.now = START  # the clock both sides read
        self.reads = {"x": 0, "y": 0}  # the clock's readings by each node
        self.bots: dict[str, Bot] = {}  # the players waiting
        self.node_of: dict[str, str] = {}  # the node each player is connected to
        self.playing: dict[str, Bot] = {}  # the players seated (their rooms run until the end)
        self.labels: list[tuple[str, str]] = []  # (mode, code) of each private room made
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.servers: list[ws.Server] = []
        self.run(self._start(redis_url))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 6 * TIMEOUT))

    async def _start(self, redis_url: str) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.from_url(redis_url)
        self.stack.push_async_callback(self.redis.aclose)
        for name in ("x", "y"):
            backend = rooms.RedisBackend(
                redis_url, prefix=self.prefix, node_id=name, heartbeat=0.1, node_ttl=scaled(2), secret="s" * 16, clock=self.clock_of(name)
            )
            lobby = rooms.Lobby(
                self.n,
                hold,
                backend=backend,
                name="duel",
                mode=lambda request: request.query["mode"],
                private=True,
                rating=(lambda request: float(request.query["r"])) if self.rated else None,
                bands=BANDS if self.rated else None,
            )
            app = ws.App()
            app.route("/game")(lobby)
            server = await self.stack.enter_async_context(running(app))
            await backend.start(server)
            self.servers.append(server)

    def teardown(self) -> None:
        async def stop() -> None:
            bots = [*self.bots.values(), *self.playing.values()]
            await asyncio.gather(*(bot.aclose() for bot in bots), return_exceptions=True)
            await self.stack.aclose()

        try:
            self.run(stop())
        finally:
            self.loop.close()

    def clock_of(self, node: str) -> Callable[[], float]:
        def read() -> float:
            self.reads[node] += 1
            return self.now

        return read

    # ------------------------------------------------------------------ the cluster's side

    async def queued_in_redis(self) -> int:
        keys = await self.redis.keys(self.prefix + "q:*")
        return sum([await self.redis.zcard(key) for key in keys])

    async def seated(self, groups: list[list[Ticket]]) -> None:
        """Every member of *groups* is told it is matched, with the group in seat order."""
        for group in groups:
            expected = [ticket.id for ticket in group]
            for ticket in group:
                bot = self.playing[ticket.id] = self.bots.pop(ticket.id)
                try:
                    matched = await bot.recv_type("matched", timeout=WAIT)
                except TimeoutError:
                    raise AssertionError(f"the Matchmaker seats {expected}; the cluster did not seat {ticket.id}") from None
                assert [p["name"] for p in matched["players"]] == expected, (ticket.id, matched["players"], expected)

    async def rematched(self) -> None:
        """Every node with rated players waiting has re-matched them at ``now``."""
        if not self.rated:
            return  # no bands: the backend does not re-match
        nodes = {self.node_of[ticket.id] for ticket in self.mm.tickets()}
        before = dict(self.reads)
        await eventually(lambda: all(self.reads[node] >= before[node] + 2 for node in nodes), WAIT)

    # ------------------------------------------------------------------ rules

    @rule(
        node=st.integers(0, 1),
        mode=st.sampled_from(MODES),
        code=st.sampled_from([None, None, None, None, None, "new", 0, 1, 3]),  # mostly public
        rating=RATINGS,
    )
    def join(self, node: int, mode: str, code: str | int | None, rating: float) -> None:
        tid = f"p{next(self.numbers)}"
        self.now += JOIN_STEP
        assert not self.mm.tick(self.now), "a join's clock step made a group possible: the test's times are wrong"
        query: dict[str, Any] = {"name": tid, "mode": mode}
        if self.rated:
            query["r"] = rating
        label: str | None = None
        if code == "new":
            query["code"] = "new"
        elif isinstance(code, int):
            # A room made earlier (possibly under another mode), or a code nobody made.
            label = self.labels[code][1] if code < len(self.labels) else f"NOPE{code}"
            query["code"] = label
        key = (mode, label)
        refused = isinstance(code, int) and not self.mm.waiting(key)

        async def step() -> None:
            bot = self.bots[tid] = await Bot.connect(self.servers[node], **query)
            self.node_of[tid] = "xy"[node]
            if refused:
                assert (await bot.recv_type("error", "lobby", "matched", timeout=WAIT))["error"] == "unknown_room"
                assert (await bot.closed(WAIT)).code == 4004
                del self.bots[tid]
                return
            if code == "new":
                status = await bot.recv_type("lobby", timeout=WAIT)
                assert (status["have"], status["position"]) == (1, 1)  # a room of its own
                self.labels.append((mode, status["code"]))
                ticket_key: tuple[str, str | None] = (mode, status["code"])
            else:
                ticket_key = key
            ticket = Ticket(tid, ticket_key, self.now, rating if self.rated else None)
            groups = self.mm.add(ticket, self.now)
            if groups:
                await self.seated(groups)
            elif code != "new":
                status = await bot.recv_type("lobby", timeout=WAIT)
                assert (status["have"], status["position"]) == (len(self.mm.waiting(ticket_key)), self.mm.position(tid))

        self.run(step())

    @precondition(lambda self: self.rated)
    @rule(node=st.integers(0, 1), rating=RATINGS)
    def join_public(self, node: int, rating: float) -> None:
        """More joins of one public queue: players wait there long enough for waits to matter."""
        self.join(node, MODES[0], None, rating)

    @precondition(lambda self: len(self.mm) > 0)
    @rule(data=st.data(), abort=st.booleans())
    def leave(self, data: st.DataObject, abort: bool) -> None:
        ticket = data.draw(st.sampled_from(sorted(self.mm.tickets(), key=lambda t: t.joined_at)))

        async def step() -> None:
            bot = self.bots.pop(ticket.id)
            bot.sock.abort() if abort else bot.sock.close(1000)
            assert self.mm.remove(ticket.id) is ticket
            # A leave can complete a group that the greedy fill missed (n = 3 with
            # bands): the backend re-matches on its own, the Matchmaker on tick().
            groups = self.mm.tick(self.now)
            event(f"a leave made {len(groups)} group(s) possible")
            await self.seated(groups)
            await eventually(lambda: self.count_is(len(self.mm)), WAIT)  # the leave has landed
            await self.rematched()
            await asyncio.wait_for(bot.sock.wait_closed(), WAIT)

        self.run(step())

    @precondition(lambda self: any(len(self.mm.waiting(key)) >= self.n for key in self.mm.keys()))  # a group could form
    @rule(seconds=st.integers(1, 4))
    def wait(self, seconds: int) -> None:
        """Time passes: the bands of the waiting players widen, groups may form."""

        async def step() -> None:
            self.now += seconds
            groups = self.mm.tick(self.now)
            event(f"a wait made {len(groups)} group(s) possible")
            await self.seated(groups)
            await self.rematched()

        self.run(step())

    async def count_is(self, expected: int) -> bool:
        return await self.queued_in_redis() == expected

    @invariant()
    def the_same_tickets_wait(self) -> None:
        assert set(self.bots) == {t.id for t in self.mm.tickets()}
        assert self.run(self.queued_in_redis()) == len(self.mm)


SETTINGS = settings(max_examples=15, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck))
assert SETTINGS.stateful_step_count * JOIN_STEP < 1, "64 joins or more: their clock steps could add up to a second (see the docstring)"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("n", "rated"), [(2, True), (3, True), (3, False)], ids=["pairs-rated", "trios-rated", "trios"])
def test_the_lua_matcher_seats_as_the_matchmaker_does(redis_server, n: int, rated: bool) -> None:
    run_state_machine_as_test(lambda: Matchers(redis_server.url, n, rated), settings=SETTINGS)


async def test_a_leave_that_makes_a_group_possible_seats_it_on_both(redis_server):
    # 1100 takes 1200 first and then finds no third (1000 is 200 from 1200), so
    # {1100, 1000, 1000} waits; once 1200 leaves, the re-match seats it.
    mm = Matchmaker(3, bands=FIXED_BAND)
    ratings = {"a": 1100.0, "b": 1200.0, "c": 1000.0, "d": 1000.0}
    for at, (name, rating) in enumerate(ratings.items()):
        assert mm.add(Ticket(name, "k", float(at), rating), 0.0) == []
    mm.remove("b")
    [group] = mm.tick(0.0)
    assert [t.id for t in group] == ["a", "c", "d"]

    backend = rooms.RedisBackend(redis_server.url, prefix="g:", node_id="x", heartbeat=0.1, node_ttl=1.0, secret="s" * 16)
    app = ws.App()
    app.route("/game")(rooms.Lobby(3, hold, backend=backend, rating=lambda r: float(r.query["r"]), bands=FIXED_BAND))
    async with running(app) as server:
        await backend.start(server)
        bots = {}
        for name, rating in ratings.items():
            bots[name] = await Bot.connect(server, name=name, r=rating)
            await bots[name].recv_type("lobby")
        await bots.pop("b").aclose()
        for bot in bots.values():
            assert [p["name"] for p in (await bot.recv_type("matched"))["players"]] == ["a", "c", "d"]
        await asyncio.gather(*(bot.aclose() for bot in bots.values()))
