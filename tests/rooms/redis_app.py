"""A small cluster app for the Redis tests: ``python -m tests.rooms.redis_app
--port 0 --redis redis://127.0.0.1:P/0 --node a``.  Prints ``READY <port>`` once
it listens, serves until SIGTERM, never binds beyond 127.0.0.1.

Lobbies:

- ``/game`` (2 players, ``reconnect``): ``?mode=turns`` (default) plays 6 moves
  in turns, each broadcast as ``move``, and returns them; ``?mode=echo`` answers
  every message to its sender as ``echo`` until someone sends ``"end"``.
  Both start with ``{"type": "start", "host": <node>}`` so tests know the host.
- ``/trio`` (3 players, no reconnect): broadcasts what players say as ``said``
  until a player sends ``"end"`` or leaves.

Those two report their host in what they send, so they are not deterministic:
they keep no log (``durable=False``) and end with their host, as any room did
before durable rooms.  The durable lobbies:

- ``/chess``: the chess example (examples/games/chess), time controls
  ``blitz`` (60+0), ``fast`` (5+0), and the default ones.
- ``/careless``: echoes like ``/game?mode=echo`` but starts with a roll of
  ``random.random()``: a replay sends something else (caught, 1011).

``GET /state`` answers this process's view as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys

import rooms
import ws


def build(backend: rooms.RedisBackend, node: str, reconnect: float) -> tuple[ws.App, list[rooms.Lobby]]:
    app = ws.App()

    async def game(room: rooms.Room):
        room.broadcast({"type": "start", "host": node})
        if room.mode == "echo":
            count = 0
            async for player, msg in room:
                if msg == "end":
                    return {"echoed": count, "host": node}
                count += 1
                player.send({"type": "echo", "msg": msg, "host": node})
        moves = []
        for i in range(6):
            player = room.players[i % len(room.players)]
            move = await room.turn(player, timeout=30)
            moves.append(move)
            room.broadcast({"type": "move", "seat": player.seat, "move": move, "host": node})
        return {"moves": moves, "host": node}

    async def trio(room: rooms.Room):
        room.broadcast({"type": "start", "host": node})
        async for player, msg in room:
            if msg == "end":
                return {"host": node}
            room.broadcast({"type": "said", "seat": player.seat, "msg": msg})

    async def careless(room: rooms.Room):
        room.broadcast({"type": "start", "roll": random.random()})
        async for player, msg in room:
            if msg == "end":
                return {"echoed": True}
            player.send({"type": "echo", "msg": msg})

    duel = rooms.Lobby(2, game, backend=backend, reconnect=reconnect, mode=lambda r: r.query.get("mode", "turns"), durable=False)
    three = rooms.Lobby(3, trio, backend=backend, durable=False)
    sloppy = rooms.Lobby(2, careless, backend=backend, reconnect=reconnect)
    app.route("/game")(duel)
    app.route("/trio")(three)
    app.route("/careless")(sloppy)
    from examples.games.chess.app import DEFAULT_TIME_CONTROLS, mount

    controls = {"blitz": (60, 0), "fast": (5, 0), **{name: (float(name.split("+")[0]) * 60, float(name.split("+")[1])) for name in DEFAULT_TIME_CONTROLS}}
    chess = mount(app, "/chess", time_controls=controls, reconnect=reconnect, rematch_window=1.0, backend=backend)

    @app.route("/state")
    async def state(request):
        return {
            "node": node,
            "waiting": duel.waiting() + three.waiting() + chess.waiting(),
            "rooms": [r.id for r in duel.rooms + three.rooms + chess.rooms + sloppy.rooms],
            "results": [list(r) for r in list(duel.results) + list(three.results) + list(chess.results) + list(sloppy.results)],
            "paused": backend.paused,
            "stats": backend.statistics(),
        }

    return app, [duel, three, chess, sloppy]


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--prefix", default="test:")
    parser.add_argument("--heartbeat", type=float, default=0.25)
    parser.add_argument("--ttl", type=float, default=1.5)
    parser.add_argument("--reconnect", type=float, default=10.0)
    parser.add_argument("--secret", default="a cluster-wide test secret")
    parser.add_argument("--drain", type=float, default=30.0)
    # The games of its durable=False lobbies end at once on SIGTERM (no drain):
    # what the cluster's shutdown tests look at.
    parser.add_argument("--game-drain", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("ROOMS_TEST_LOG", "WARNING"), format=f"%(asctime)s {args.node} %(name)s %(levelname)s %(message)s")
    backend = rooms.RedisBackend(
        args.redis, prefix=args.prefix, node_id=args.node, heartbeat=args.heartbeat, node_ttl=args.ttl, secret=args.secret,
        drain_timeout=args.drain,
    )
    app, _ = build(backend, args.node, args.reconnect)
    server = await ws.serve(app, "127.0.0.1", args.port, limits=ws.ServerLimits(shutdown_timeout=3.0, drain_timeout=args.game_drain))
    await backend.start(server)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, server.close)
    loop.add_signal_handler(signal.SIGINT, server.close)
    print(f"READY {server.port}", flush=True)
    await server.wait_closed()
    await backend.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
