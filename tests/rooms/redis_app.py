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

``GET /state`` answers this process's view as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
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

    duel = rooms.Lobby(2, game, backend=backend, reconnect=reconnect, mode=lambda r: r.query.get("mode", "turns"))
    three = rooms.Lobby(3, trio, backend=backend)
    app.route("/game")(duel)
    app.route("/trio")(three)

    @app.route("/state")
    async def state(request):
        return {
            "node": node,
            "waiting": duel.waiting() + three.waiting(),
            "rooms": [r.id for r in duel.rooms + three.rooms],
            "results": [list(r) for r in list(duel.results) + list(three.results)],
            "paused": backend.paused,
            "stats": backend.statistics(),
        }

    return app, [duel, three]


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("ROOMS_TEST_LOG", "WARNING"), format=f"%(asctime)s {args.node} %(name)s %(levelname)s %(message)s")
    backend = rooms.RedisBackend(
        args.redis, prefix=args.prefix, node_id=args.node, heartbeat=args.heartbeat, node_ttl=args.ttl, secret=args.secret
    )
    app, _ = build(backend, args.node, args.reconnect)
    server = await ws.serve(app, "127.0.0.1", args.port, limits=ws.ServerLimits(shutdown_timeout=3.0))
    await backend.start(server)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, server.close)
    loop.add_signal_handler(signal.SIGINT, server.close)
    print(f"READY {server.port}", flush=True)
    await server.wait_closed()
    await backend.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
