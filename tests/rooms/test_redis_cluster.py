"""Cluster tests: real redis-server, real node processes (tests.rooms.redis_app)."""

from __future__ import annotations

from tests.rooms.redis_fixtures import cluster, redis_server  # noqa: F401
from tests.support import Bot, eventually


async def play_turns(clients: list[Bot]) -> dict:
    """Play the 6-move turns game; every client sees every move; return the ended result."""
    for c in clients:
        await c.recv_type("start")
    for i in range(6):
        mover = clients[i % len(clients)]
        mover.send({"i": i})
        for c in clients:
            move = await c.recv_type("move")
            assert move["move"] == {"i": i} and move["seat"] == i % len(clients)
    ends = [await c.recv_type("ended") for c in clients]
    assert all(e == ends[0] for e in ends)
    return ends[0]["result"]


async def test_players_on_two_processes_play_a_full_game(cluster):
    a, b = await cluster.start("a"), await cluster.start("b")
    alice = await Bot.connect(a, name="alice")
    assert (await alice.recv()) == {"type": "lobby", "have": 1, "need": 2, "position": 1}
    bob = await Bot.connect(b, name="bob")
    ma, mb = await alice.recv_type("matched"), await bob.recv_type("matched")
    assert ma["room"] == mb["room"] and (ma["seat"], mb["seat"]) == (0, 1)
    assert [p["name"] for p in ma["players"]] == ["alice", "bob"]
    result = await play_turns([alice, bob])
    assert result == {"moves": [{"i": i} for i in range(6)], "host": "b"}  # the completing ticket's node hosts
    for c in (alice, bob):
        _, closed = await c.messages_until_closed()
        assert closed.code == 1000
    await eventually(lambda: _idle(a, b))


async def _idle(*nodes) -> bool:
    states = [await n.state() for n in nodes]
    return all(s["waiting"] == 0 and s["rooms"] == [] and s["stats"]["remote_players"] == 0 and s["stats"]["bridged_players"] == 0 for s in states)


async def test_three_processes_one_room(cluster):
    nodes = [await cluster.start(name) for name in "abc"]
    clients = []
    for i, node in enumerate(nodes):
        c = await Bot.connect(node, "/trio", name=f"p{i}")
        clients.append(c)
        if i < 2:
            assert (await c.recv_type("lobby"))["position"] == i + 1
    matched = [await c.recv_type("matched") for c in clients]
    assert len({m["room"] for m in matched}) == 1 and [m["seat"] for m in matched] == [0, 1, 2]
    assert [(await c.recv_type("start"))["host"] for c in clients] == ["c", "c", "c"]
    for i, c in enumerate(clients):
        c.send({"hello": i})
        for other in clients:
            assert await other.recv_type("said") == {"type": "said", "seat": i, "msg": {"hello": i}}
    clients[0].send("end")
    for c in clients:
        assert (await c.recv_type("ended"))["result"] == {"host": "c"}
        _, closed = await c.messages_until_closed()
        assert closed.code == 1000
    await eventually(lambda: _idle(*nodes))


async def test_messages_arrive_in_order_none_lost_or_duplicated(cluster):
    a, b = await cluster.start("a"), await cluster.start("b")
    alice = await Bot.connect(a, name="alice", mode="echo")  # remote: the room runs on b
    await alice.recv_type("lobby")
    bob = await Bot.connect(b, name="bob", mode="echo")
    for c in (alice, bob):
        await c.recv_type("matched")
        assert (await c.recv_type("start"))["host"] == "b"
    count = 300
    for i in range(count):
        alice.send({"a": i})
        bob.send({"b": i})
    got_a = [(await alice.recv_type("echo"))["msg"] for _ in range(count)]
    got_b = [(await bob.recv_type("echo"))["msg"] for _ in range(count)]
    assert got_a == [{"a": i} for i in range(count)]
    assert got_b == [{"b": i} for i in range(count)]
    alice.send("end")
    for c in (alice, bob):
        assert (await c.recv_type("ended"))["result"] == {"echoed": 2 * count, "host": "b"}


async def test_spectator_through_another_process(cluster):
    a, b, c = [await cluster.start(name) for name in "abc"]
    alice = await Bot.connect(a, name="alice")
    await alice.recv_type("lobby")
    bob = await Bot.connect(b, name="bob")
    room = (await alice.recv_type("matched"))["room"]
    await bob.recv_type("matched")
    watcher = await Bot.connect(c, watch=room)
    spectating = await watcher.recv_type("spectating")
    assert [p["name"] for p in spectating["players"]] == ["alice", "bob"]
    alice.send({"i": 0})
    assert (await watcher.recv_type("move"))["move"] == {"i": 0}
    watcher.send({"i": 1})
    assert (await watcher.recv_type("error"))["error"] == "spectator"
    unknown = await Bot.connect(c, watch="nosuchroom")
    assert (await unknown.recv_type("error"))["error"] == "unknown_room"
    _, closed = await unknown.messages_until_closed()
    assert closed.code == 4004
    for i in range(1, 6):
        (alice if i % 2 == 0 else bob).send({"i": i})
        assert (await watcher.recv_type("move"))["move"] == {"i": i}
    assert (await watcher.recv_type("ended"))["result"]["host"] == "b"
    _, closed = await watcher.messages_until_closed()
    assert closed.code == 1000
