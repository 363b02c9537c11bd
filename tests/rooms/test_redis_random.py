"""Randomized: hundreds of joins and leaves spread over three processes, with no
pause for matching between them.  Whatever the interleaving: nobody is seated
twice, every room has exactly n players, and no ticket is left behind."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

import ws
from tests.rooms.redis_fixtures import cluster, redis_server  # noqa: F401
from tests.support import eventually, scaled


class Player:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sock: ws.WebSocket | None = None
        self.matched: list[dict] = []
        self.left = False
        self.done = asyncio.Event()

    async def run(self, node) -> None:
        try:
            self.sock = await asyncio.wait_for(ws.connect(node.url("/trio", name=self.name)), scaled(5))
            async for raw in self.sock:
                msg = json.loads(raw)
                if msg["type"] == "matched":
                    self.matched.append(msg)
                    self.sock.text(json.dumps("end"))  # end the room at once
        except (ws.Closed, OSError, asyncio.TimeoutError):
            pass
        finally:
            self.done.set()

    @property
    def waiting(self) -> bool:
        return not self.done.is_set() and not self.matched and not self.left


@pytest.mark.parametrize("seed", [1, 2])
async def test_randomized_joins_and_leaves_across_processes(cluster, seed):
    rnd = random.Random(seed)
    nodes = [await cluster.start(name) for name in "abc"]
    players: list[Player] = []
    tasks = []
    for step in range(300):
        waiting = [p for p in players if p.waiting and p.sock is not None]
        if rnd.random() < 0.7 or not waiting:
            player = Player(f"p{step}")
            players.append(player)
            tasks.append(asyncio.create_task(player.run(rnd.choice(nodes))))
        else:
            player = rnd.choice(waiting)
            player.left = True
            if rnd.random() < 0.5:
                player.sock.close(1000)
            else:
                player.sock.abort()  # no closing handshake: a lost connection
        await asyncio.sleep(rnd.random() * 0.004)
    r = cluster.redis.client()
    try:

        async def queued() -> list[str]:
            keys = await r.keys("test:q:*")
            return [m.decode() for k in keys for m in await r.zrange(k, 0, -1)]

        async def settled() -> bool:
            # Every room over, every remaining player queued (and fewer than n of them).
            still = [p for p in players if p.waiting]
            return len(await queued()) == len(still) and all(p.done.is_set() for p in players if p.matched or p.left)

        await eventually(settled, timeout=scaled(20), interval=0.2)
        assert len(await queued()) < 3
        rooms: dict[str, list[dict]] = {}
        for p in players:
            assert len(p.matched) <= 1, f"{p.name} was matched twice"
            for m in p.matched:
                rooms.setdefault(m["room"], m["players"])
                assert rooms[m["room"]] == m["players"]  # everyone saw the same room
                assert m["players"][m["seat"]]["name"] == p.name
        seated = [pl["name"] for room in rooms.values() for pl in room]
        assert len(seated) == len(set(seated)), "somebody was seated twice"
        assert all([pl["seat"] for pl in room] == [0, 1, 2] for room in rooms.values())
        assert len(rooms) >= 30  # the run did match many groups
        # Those still waiting leave: no ticket (nor any process's share) is left behind.
        for p in players:
            if p.waiting:
                p.sock.close(1000)
        await asyncio.wait_for(asyncio.gather(*tasks), scaled(10))

        async def empty() -> bool:
            states = [await n.state() for n in nodes]
            tickets = await r.keys("test:nt:*")
            return (
                not await queued()
                and not tickets
                and not await r.smembers("test:queues")
                and all(s["waiting"] == 0 and s["rooms"] == [] and s["stats"]["remote_players"] == 0 and s["stats"]["bridged_players"] == 0 for s in states)
            )

        await eventually(empty, timeout=scaled(10), interval=0.2)
        assert not await r.keys("test:room:*")
    finally:
        await r.aclose()
