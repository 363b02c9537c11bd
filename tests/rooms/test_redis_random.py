"""Randomized: hundreds of joins and leaves spread over three processes, with no
pause for matching between them.  Whatever the interleaving: nobody is seated
twice, every room has exactly n players, and no ticket is left behind."""

from __future__ import annotations

import asyncio
import contextlib
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
        self.ended: dict | None = None  # the room's ``ended`` message
        self.left = False  # the test made this player leave
        self.failure: str | None = None  # a connection that could not be made
        self.done = asyncio.Event()

    async def run(self, node) -> None:
        try:
            self.sock = await asyncio.wait_for(ws.connect(node.url("/trio", name=self.name)), scaled(5))
        except Exception as exc:  # refused, reset, timed out, a failed handshake: all count against the run
            self.failure = f"could not connect: {exc!r}"
            self.done.set()
            return
        try:
            async for raw in self.sock:
                msg = json.loads(raw)
                if msg["type"] == "matched":
                    self.matched.append(msg)
                    # End the room at once, unless another player just did: then the
                    # room's close is in already, sending raises, and its last
                    # messages are still to be read.
                    with contextlib.suppress(ws.Closed):
                        self.sock.text(json.dumps("end"))
                elif msg["type"] == "ended":
                    self.ended = msg
        except ws.Closed:
            pass  # how it closed is in sock.close_code, checked by unexplained()
        finally:
            self.done.set()

    @property
    def waiting(self) -> bool:
        return not self.done.is_set() and not self.matched and not self.left

    def unexplained(self) -> str | None:
        """Why this player's run ended other than as the test made it, if it did:
        only a player who left, or whose room ended (``ended``, then close 1000),
        is done; one that failed to connect or was dropped while waiting is not."""
        if self.failure is not None:
            return self.failure
        if not self.done.is_set() or self.left:
            return None
        code = self.sock.close_code if self.sock is not None else None
        if not self.matched:
            return f"dropped while waiting (close {code})"
        if self.ended is None or code != 1000:
            return f"matched, then closed with {code} and ended={self.ended}"
        return None


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
        # Random gaps of 0 to 4 ms between steps: the interleaving is what this
        # test varies (joins, leaves and matching racing), not a wait for anything.
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
        assert [(p.name, why) for p in players if (why := p.unexplained())] == []
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
                p.left = True
                p.sock.close(1000)
        await asyncio.wait_for(asyncio.gather(*tasks), scaled(10))
        assert [(p.name, why) for p in players if (why := p.unexplained())] == []

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
