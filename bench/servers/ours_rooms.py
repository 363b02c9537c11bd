"""The rooms layer under load, for ``bench`` (ours only: the peers have no rooms layer).

    python bench/servers/ours_rooms.py --host 127.0.0.1 --port 8765 [--uvloop]

``/match``: a :class:`rooms.Lobby` of 2.  The ``auth`` hook, which runs just before
each player's upgrade, stamps the time; the game's first line measures how long ago the
second (n-th) player of its room was upgraded, sends ``{"type": "go", "latency": s}``
to both players and returns, which ends the room (close 1000).

``/chess/ws``: the chess example (examples/games/chess), as ``make run`` serves it,
with one extra time control ``bench`` (10 minutes, no increment) that nobody flags in.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import rooms  # noqa: E402
import ws  # noqa: E402
from bench.servers import serve_ours  # noqa: E402
from examples.server import make_site  # noqa: E402


def make_app() -> ws.App:
    site = make_site(time_controls={"bench": (600, 0), "5+0": (300, 0)}, chess_options={"rematch_window": 5.0})
    app = site.app
    clock = time.perf_counter
    numbers = iter(range(1, 1 << 62))

    def stamp(request: ws.Request) -> dict[str, Any]:
        return {"name": f"p{next(numbers)}", "t": clock()}

    async def match(room: rooms.Room) -> None:
        now = clock()  # the handler's first line
        latency = now - max(p.identity["t"] for p in room.players)
        room.broadcast({"type": "go", "latency": latency})

    app.route("/match")(rooms.Lobby(2, match, auth=stamp, reconnect=None, compression=None))
    return app


if __name__ == "__main__":
    serve_ours(make_app, __doc__.splitlines()[0])
