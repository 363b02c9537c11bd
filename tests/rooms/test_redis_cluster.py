"""Cluster tests: real redis-server, real node processes (tests.rooms.redis_app)."""

from __future__ import annotations

import asyncio

from tests.rooms.redis_fixtures import Client, cluster, eventually, redis_server  # noqa: F401


async def play_turns(clients: list[Client]) -> dict:
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
    alice = await Client.connect(a, name="alice")
    assert (await alice.recv()) == {"type": "lobby", "have": 1, "need": 2, "position": 1}
    bob = await Client.connect(b, name="bob")
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
