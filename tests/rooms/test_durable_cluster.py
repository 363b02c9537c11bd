"""Durable rooms on a real cluster (redis-server and 2-3 server processes):
kill -9 of a host in the middle of chess games, a host paused (SIGSTOP) for
longer than its lease, a rolling restart, a game that is not deterministic,
and the lease fencing under a seeded schedule of pauses and kills."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import pytest

from tests.rooms.chess_driver import DRAW_PLY, MOVES, ChessBot, canonical
from tests.rooms.redis_fixtures import cluster, redis_server  # noqa: F401
from tests.support import Bot, eventually, scaled

TTL, HEARTBEAT = 1.5, 0.25  # the test app's defaults
LONG_TTL = 3.0


async def pair(first, second, i: int, mode: str = "10+0") -> tuple[ChessBot, ChessBot]:
    """A chess game between a player on *first* (waiting) and one on *second* (so *second* hosts)."""
    p1, p2 = ChessBot(f"w{i}", first, mode), ChessBot(f"b{i}", second, mode)
    join1 = asyncio.ensure_future(p1.join())

    # p1's ticket must be in Redis before p2 joins, so that p2's join completes the
    # group: its ``lobby`` status says so (the node's own count of waiting players
    # does not: it counts a player whose join is still on its way to Redis).
    await eventually(lambda: join1.done() or any(seen[0] == "lobby" for seen in p1.trace))
    await p2.join()
    await join1
    await asyncio.gather(p1.until(lambda b: b.state is not None), p2.until(lambda b: b.state is not None))
    assert p1.state is not None and p1.state["room"] in (await second.state())["rooms"], "the game is not hosted by the second process"
    return p1, p2


async def advance(game: tuple[ChessBot, ChessBot], ply: int) -> None:
    for bot in game:
        bot.stop_at = ply
    await asyncio.gather(*(bot.until(lambda b: b.ply >= ply, timeout=30) for bot in game))


async def finish(games, nodes, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    for game in games:
        for bot in game:
            bot.stop_at = None
            bot.hold_draw = False
    try:
        return await asyncio.wait_for(asyncio.gather(*(bot.play(nodes, rng) for game in games for bot in game)), scaled(60))
    except BaseException:
        for i, game in enumerate(games):
            for bot in game:
                if bot.result is None:
                    print("stuck:", i, bot.name, bot.color, bot.ply, (bot.state or {}).get("turn"), (bot.state or {}).get("draw_offer"), bot.declined, bot.closes, len(bot.resumed), bot.sent_at, bot.trace[-12:])
        raise


async def finished(players, games, nodes, cluster) -> list[dict]:
    """The players' results; on a time-out, what each stuck player saw, and the nodes' logs."""
    try:
        return await asyncio.wait_for(players, scaled(60))
    except BaseException:
        for i, game in enumerate(games):
            for bot in game:
                if bot.result is None:
                    print("stuck:", i, bot.name, bot.color, bot.ply, (bot.state or {}).get("turn"), bot.closes[:4], len(bot.resumed), bot.trace[-8:])
                    rid = (bot.state or {}).get("room")
                    r = cluster.redis.client()
                    print("  room", rid, await r.hgetall(f"test:room:{rid}"), await r.sismember("test:orphans", rid), await r.xlen(f"test:log:{rid}"))
                    await r.aclose()
        for node in nodes:
            print(node.name, node.log.read_text()[-6000:])
        raise


async def reference(a, b) -> str:
    """The PGN of the scripted game, played without interruption."""
    game = await pair(a, b, 999)
    (ended, _) = await finish([game], [a, b])
    return ended["result"]["pgn"]


@pytest.mark.timeout(300)
async def test_kill_9_of_the_host_at_20_points_of_chess_games(cluster):
    # A longer lease than the other tests': the outage (at least the lease) stands
    # well apart from the clock time a host may not have logged (a heartbeat or two).
    a, b, c = [await cluster.start(name, "--ttl", str(LONG_TTL)) for name in "abc"]
    expected = canonical(await reference(a, c))
    # 20 games hosted by b, each held at another point: before a move (mid-turn), just
    # after a move was sent (the kill follows within a millisecond), during a draw offer.
    games, points = [], []
    t = time.monotonic()
    for i in range(20):
        game = await pair(a if i % 2 else c, b, i)
        games.append(game)
    print("seated 20 games in %.1f s" % (time.monotonic() - t))

    async def hold_draw(game) -> None:
        game[0].hold_draw = game[1].hold_draw = True
        for bot in game:
            bot.stop_at = DRAW_PLY + 1
        await asyncio.gather(*(bot.until(lambda x: (x.state or {}).get("draw_offer") == "white", timeout=30) for bot in game))

    plies = [0, 1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 15, 17, 19, 21, 22, 23, 1, 6]
    await asyncio.gather(*(advance(game, plies[i]) if i < 19 else hold_draw(game) for i, game in enumerate(games)))
    points = [("mid-turn", plies[i]) for i in range(19)] + [("draw offer", DRAW_PLY)]
    print("held 20 games at their points in %.1f s" % (time.monotonic() - t))
    before = {}
    for i in (14, 15, 16, 17, 18):  # the move is on its way when b dies
        game = games[i]
        mover = next(bot for bot in game if bot.color == bot.state["turn"])
        ply = mover.ply
        mover.sent_at[ply] = mover.connection
        mover.send({"type": "move", "uci": MOVES[ply]})
        points[i] = ("move sent", ply)
    for i, game in enumerate(games):
        state = game[0].state
        before[i] = (state["turn"], state["clocks"][state["turn"]], game[0].state_at)
    b.kill()
    t0 = time.monotonic()
    results = await finish(games, [a, b, c])
    for i, game in enumerate(games):
        assert any(bot.result is not None for bot in game), points[i]
        for bot in game:
            if bot.result is not None:  # (None: away when its game ended, told 4004)
                assert bot.result["result"] is not None, (points[i], bot.result, bot.closes)
                assert canonical(bot.result["result"]["pgn"]) == expected, (points[i], bot.result)
    assert len(results) == 40
    waits = sorted(bot.resumed_at[0] - t0 for game in games for bot in game if bot.resumed_at)
    print("kill -9 -> resumed: p50 %.2f s, max %.2f s" % (waits[len(waits) // 2], waits[-1]))
    # Players of the surviving processes were never disconnected; b's reconnected.
    for game in games:
        assert game[0].closes == [], game[0].closes
        assert game[1].closes and game[1].closes[0][0] == 1006
        assert game[0].resumed and game[1].resumed
    # The outage was not charged to the player on move: their clock lost the time
    # it ran before the kill (and what the host had not logged yet: a heartbeat or
    # two, more on a loaded machine), not the seconds b was dead for (at least the
    # lease, LONG_TTL).
    for i, game in enumerate(games):
        turn, left, seen = before[i]
        if points[i][0] == "mid-turn":
            resumed = game[0].resumed[0]["state"]
            charged = left - resumed["clocks"][turn]
            assert charged < (t0 - seen) + LONG_TTL - 0.5, (points[i], charged, t0 - seen)
    assert waits[0] > LONG_TTL - HEARTBEAT - 0.1  # the lease ran from the last heartbeat before the kill


async def test_a_game_that_is_not_deterministic_ends_with_the_documented_error(cluster):
    a, b = await cluster.start("a"), await cluster.start("b")
    p1 = await Bot.connect(a, "/careless", name="p1")
    await p1.recv_type("lobby")
    p2 = await Bot.connect(b, "/careless", name="p2")
    await p1.recv_type("start")
    p1.send("hello")
    await p1.recv_type("echo")
    b.kill()
    messages, closed = await p1.messages_until_closed(timeout=scaled(15))
    assert closed.code == 1011 and closed.reason == "room could not be resumed: game is not deterministic", (messages, closed)
    assert messages[-1]["type"] == "ended" and messages[-1]["error"] == closed.reason
    await eventually(lambda: _logged(a, "output #1"), timeout=scaled(5))
    await p2.messages_until_closed()


async def _logged(node, text: str) -> bool:
    return "not deterministic" in node.log.read_text() and text in node.log.read_text()


async def test_sigstop_longer_than_the_lease_then_sigcont(cluster):
    a, b, c = [await cluster.start(name) for name in "abc"]
    game = await pair(a, b, 0)
    await advance(game, 4)
    # A player waits on b when b stops; a newcomer on c matches with it meanwhile.
    waiter = await Bot.connect(b, "/chess/ws", name="waiter", mode="fast")
    await waiter.recv_type("lobby")
    (hosted,) = (await b.state())["rooms"]  # the game's room: b hosts it
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        newcomer = await Bot.connect(c, "/chess/ws", name="newcomer", mode="fast")
        matched = await newcomer.recv_type("matched")

        async def adopted() -> bool:  # b's lease lapsed and a live process took its room
            return any([hosted in (await node.state())["rooms"] for node in (a, c)])

        await eventually(adopted, timeout=scaled(15))
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    # The waiter is seated in the newcomer's room (it claims the seat it was given).
    got = await waiter.recv_type("matched", timeout=scaled(10))
    assert got["room"] == matched["room"] and got["seat"] != matched["seat"]
    await newcomer.recv_type("player_returned", timeout=scaled(10))
    # The adopted chess game finishes once; b resurrected nothing.
    results = await finish([game], [a, b, c])
    for bot in game:
        assert canonical(bot.result["result"]["pgn"]) == canonical(results[0]["result"]["pgn"])
    assert game[1].closes and game[1].closes[0][0] in (1012, 1006), game[1].closes
    # b's old copy is gone: the old token works only in the adopted room, which has ended.
    late = await Bot.connect(b, "/chess/ws", token=game[1].token)
    assert (await late.recv_type("error"))["error"] == "unknown_room"
    state = await b.state()
    assert game[0].result["room"] not in state["rooms"]


async def test_rolling_restart_of_three_processes_with_30_games(cluster):
    nodes = [await cluster.start(name, "--drain", "10") for name in "abc"]
    games = []
    for i in range(30):
        first, second = nodes[i % 3], nodes[(i + 1) % 3]
        games.append(await pair(first, second, i))
    for i, game in enumerate(games):
        await advance(game, 2 + i % 8)
    for game in games:
        for bot in game:
            bot.stop_at = None
    rng = random.Random(3)
    players = asyncio.gather(*(bot.play(nodes, rng) for game in games for bot in game))
    for i in range(3):
        old = nodes[i]
        assert await old.stop() == 0
        nodes[i] = await cluster.start(old.name, "--drain", "10")
        await asyncio.sleep(0.5)  # the scenario: a rolling deploy's pause between processes
    results = await finished(players, games, nodes, cluster)
    assert len(results) == 60
    ended = [r for r in results if r["type"] == "ended"]
    expected = canonical(ended[0]["result"]["pgn"])
    # Every game finished with the scripted PGN (a player away when it ended, on
    # its way between processes, is told it is over: 4004).
    bad = [(i // 2, r, games[i // 2][i % 2].closes[:5]) for i, r in enumerate(results) if r["type"] == "ended" and (r.get("result") is None or canonical(r["result"]["pgn"]) != expected)]
    assert not bad, bad
    assert all(any(bot.result is not None for bot in game) for game in games)
    # The rooms were handed over: their players on a stopping process were told to
    # reconnect (1012), those elsewhere followed the room, and all got resumed.
    bots = [bot for game in games for bot in game]
    assert any(code == 1012 for bot in bots for code, _ in bot.closes)
    assert sum(1 for bot in bots if bot.resumed) >= 30


@pytest.mark.parametrize("seed", [1, 2])
async def test_lease_fencing_under_random_pauses_and_kills(cluster, seed):
    rng = random.Random(seed)
    nodes = [await cluster.start(name) for name in "abc"]
    games = [await pair(nodes[i % 3], nodes[(i + 1) % 3], i) for i in range(6)]
    for game in games:
        for bot in game:
            bot.stop_at = None
    players = asyncio.ensure_future(asyncio.gather(*(bot.play(nodes, rng) for game in games for bot in game)))
    for step in range(4):
        await asyncio.sleep(rng.uniform(0.2, 1.0))  # the randomized schedule under test
        victim = rng.choice([n for n in nodes if n.alive])
        if rng.random() < 0.5:
            os.kill(victim.proc.pid, signal.SIGSTOP)
            await asyncio.sleep(rng.uniform(0.2, TTL * 2.5))  # a pause shorter or longer than the lease
            os.kill(victim.proc.pid, signal.SIGCONT)
        else:
            victim.kill()
            await victim.proc.wait()
            nodes[nodes.index(victim)] = await cluster.start(victim.name)
    results = await finished(players, games, nodes, cluster)
    ended = [r for r in results if r["type"] == "ended"]
    expected = canonical(ended[0]["result"]["pgn"])
    for r in ended:
        # Never a move applied twice (the PGN would differ), never two hosts (one result per room).
        assert canonical(r["result"]["pgn"]) == expected
    for game in games:
        # Both players end in the same room; one away when it ended is told it is over (4004).
        assert any(bot.result is not None for bot in game)
        rooms_seen = {r["room"] for r in (bot.result or {"room": bot.state["room"]} for bot in game)}
        assert len(rooms_seen) == 1
