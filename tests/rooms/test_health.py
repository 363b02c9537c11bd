"""A lobby's readiness: ``/readyz`` says 503 while its RedisBackend cannot reach
Redis (matching is paused), and 200 again once Redis is back."""

from __future__ import annotations

import json

import rooms
import ws
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import eventually, http_get, running, scaled


async def game(room):
    return None


async def test_readyz_follows_the_backends_reach_of_redis(redis_server) -> None:  # noqa: F811
    assert rooms.Lobby(2, game).ready()  # the in-memory backend never pauses
    backend = rooms.RedisBackend(redis_server.url, prefix="h:", node_id="h", heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
    app = ws.App()
    app.route("/game")(rooms.Lobby(2, game, backend=backend, name="duel"))
    app.mount_health()
    async with running(app) as server:
        await backend.start(server)
        assert await http_get(server, "/readyz") == (200, b'{"ready":true}')
        redis_server.stop()

        async def unready() -> bool:
            status, body = await http_get(server, "/readyz")
            return status == 503 and json.loads(body)["unready"] == ["duel"]

        await eventually(unready, scaled(10))
        assert (await http_get(server, "/healthz"))[0] == 200  # alive all the same
        redis_server.start()

        async def ready() -> bool:
            return (await http_get(server, "/readyz"))[0] == 200

        await eventually(ready, scaled(10))
