"""Cluster failures: kill -9 of a host and of a non-host process, reconnecting
through another process, a graceful shutdown, and Redis stopped and restarted."""

from __future__ import annotations

import time

from tests.rooms.redis_fixtures import cluster, redis_server  # noqa: F401
from tests.support import Bot, eventually, scaled

TTL, HEARTBEAT = 1.5, 0.25  # the test app's defaults
DETECT = TTL + 2 * HEARTBEAT + 1.0  # bound on noticing a dead process (with slack for a loaded machine)


async def pair(first, second, **query) -> tuple[Bot, Bot, dict]:
    """alice on *first* waits, bob on *second* completes the group (so *second* hosts)."""
    alice = await Bot.connect(first, name="alice", **query)
    await alice.recv_type("lobby")
    bob = await Bot.connect(second, name="bob", **query)
    matched = await alice.recv_type("matched")
    await bob.recv_type("matched")
    for c in (alice, bob):
        assert (await c.recv_type("start"))["host"] == second.name
    return alice, bob, matched


async def test_kill_host_ends_its_rooms_with_1012(cluster):
    a, b, c = [await cluster.start(name) for name in "abc"]
    alice, bob, matched = await pair(a, b)
    carol = await Bot.connect(c, watch=matched["room"])  # a spectator bridged from c
    await carol.recv_type("spectating")
    alice.send({"i": 0})
    await alice.recv_type("move")
    t0 = time.monotonic()
    b.kill()
    for client in (alice, carol):
        messages, closed = await client.messages_until_closed(timeout=DETECT + 2)
        assert closed.code == 1012 and closed.reason == "room host lost"
        assert messages[-1] == {"type": "ended", "room": matched["room"], "result": None, "error": "room host lost"}
    assert time.monotonic() - t0 < DETECT
    _, closed = await bob.messages_until_closed()
    assert closed.code == 1006  # its process is gone
    # The dead node's room record is gone: its token is refused everywhere.
    again = await Bot.connect(c, token=matched["token"])
    assert (await again.recv_type("error"))["error"] == "unknown_room"
    await eventually(lambda: _clean(cluster.redis, "b"))


async def test_kill_non_host_holds_the_seat_and_reconnect_goes_through_another_process(cluster):
    a, b, c = [await cluster.start(name) for name in "abc"]
    alice, bob, matched = await pair(a, b)
    alice.send({"i": 0})
    assert (await bob.recv_type("move"))["move"] == {"i": 0}
    # dave waits on a: its ticket must not outlive a.
    dave = await Bot.connect(a, name="dave")
    await dave.recv_type("lobby")
    t0 = time.monotonic()
    a.kill()
    left = await bob.recv_type("player_left", timeout=DETECT + 2)
    assert time.monotonic() - t0 < DETECT
    assert left == {"type": "player_left", "player": {"seat": 0, "name": "alice", "connected": False}, "reconnect": 10.0}
    # alice comes back through c (seat token honoured by any process).
    back = await Bot.connect(c, token=matched["token"])
    resumed = await back.recv_type("resumed")
    assert resumed["room"] == matched["room"] and resumed["seat"] == 0
    assert (await bob.recv_type("player_returned"))["player"]["name"] == "alice"
    for i in range(1, 6):
        (back if i % 2 == 0 else bob).send({"i": i})
        for client in (back, bob):
            assert (await client.recv_type("move"))["move"] == {"i": i}
    for client in (back, bob):
        ended = await client.recv_type("ended")
        assert ended["result"] == {"moves": [{"i": i} for i in range(6)], "host": "b"}
    # dave's ticket was swept: erin waits alone instead of being matched with a ghost.
    erin = await Bot.connect(c, name="erin")
    assert await erin.recv_type("lobby") == {"type": "lobby", "have": 1, "need": 2, "position": 1}
    await erin.aclose()
    await eventually(lambda: _clean(cluster.redis, "a"))


async def test_reconnect_through_another_process_while_both_are_up(cluster):
    a, b, c = [await cluster.start(name) for name in "abc"]
    alice, bob, matched = await pair(a, b)
    alice.sock.close(4100, "tab closed")  # any close but 1000 holds the seat
    left = await bob.recv_type("player_left")
    assert left["reconnect"] == 10.0
    back = await Bot.connect(c, token=matched["token"])
    assert (await back.recv_type("resumed"))["seat"] == 0
    await bob.recv_type("player_returned")
    # A second connection with the same token, through a: the one on c is replaced (4005).
    again = await Bot.connect(a, token=matched["token"])
    await again.recv_type("resumed")
    assert (await back.recv_type("error"))["error"] == "replaced"
    _, closed = await back.messages_until_closed()
    assert closed.code == 4005
    # Bad tokens are refused by every process, whichever hosts the room.
    forged = matched["token"][:-4] + "AAAA"
    for node in (a, c):
        bad = await Bot.connect(node, token=forged)
        assert (await bad.recv_type("error"))["error"] == "invalid_token"
    again.send({"i": 0})
    assert (await bob.recv_type("move"))["move"] == {"i": 0}
    # A deliberate leave (1000) is final: the seat is not held.
    again.sock.close(1000, "")
    left = await bob.recv_type("player_left")
    assert left["reconnect"] is None
    late = await Bot.connect(c, token=matched["token"])
    assert (await late.recv_type("error"))["error"] in ("seat_unavailable", "unknown_room")


async def test_graceful_shutdown_of_a_host(cluster):
    a, b = await cluster.start("a"), await cluster.start("b")
    alice, bob, _ = await pair(a, b)
    assert await b.stop() == 0
    messages, closed = await alice.messages_until_closed(timeout=scaled(8))
    assert closed.code in (1000, 1001), messages
    state = await a.state()
    assert state["stats"]["bridged_players"] == 0 and state["waiting"] == 0
    await eventually(lambda: _clean(cluster.redis, "b"))


async def test_redis_stopped_and_restarted(cluster):
    a, b = await cluster.start("a"), await cluster.start("b")
    # A room whose players are both on a, and a trio waiting across a and b.
    p1, p2, _ = await pair(a, a)
    w1 = await Bot.connect(a, "/trio", name="w1")
    await w1.recv_type("lobby")
    w2 = await Bot.connect(b, "/trio", name="w2")
    await w2.recv_type("lobby")
    cluster.redis.stop()
    for w in (w1, w2):
        paused = await w.recv_type("lobby", timeout=scaled(5))
        while paused.get("status") != "paused":
            paused = await w.recv_type("lobby", timeout=scaled(5))
        assert paused["need"] == 3 and "paused" in paused["detail"]
    # Newcomers are told at once; the local game goes on.
    w3 = await Bot.connect(b, "/trio", name="w3")
    assert (await w3.recv_type("lobby"))["status"] == "paused"
    for i in range(6):
        (p1 if i % 2 == 0 else p2).send({"i": i})
        for client in (p1, p2):
            assert (await client.recv_type("move"))["move"] == {"i": i}
    for client in (p1, p2):
        assert (await client.recv_type("ended"))["result"]["host"] == "a"
    assert (await a.state())["paused"] and (await b.state())["paused"]
    cluster.redis.start()
    # Everyone waiting is queued again and the trio completes across both processes.
    matched = [await w.recv_type("matched", timeout=scaled(8)) for w in (w1, w2, w3)]
    assert len({m["room"] for m in matched}) == 1
    assert sorted(p["name"] for p in matched[0]["players"]) == ["w1", "w2", "w3"]
    w1.send("end")
    for w in (w1, w2, w3):
        await w.recv_type("ended")
    assert not (await a.state())["paused"] and not (await b.state())["paused"]
    # And new matches work as before.
    x, y, _ = await pair(b, a)
    x.sock.close(1000)
    await y.recv_type("ended")


async def _clean(redis, dead: str) -> bool:
    """Nothing of the dead node is left in Redis: key, tickets, rooms, inbox."""
    r = redis.client()
    try:
        keys = [k.decode() for k in await r.keys("test:*")]
        members = {m.decode() for m in await r.smembers("test:nodes")}
    finally:
        await r.aclose()
    leftovers = [k for k in keys if k.endswith(":" + dead) or k.startswith("test:q:")]
    return not leftovers and dead not in members
