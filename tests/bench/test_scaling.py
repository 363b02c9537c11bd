"""bench.scaling's driver: what it counts is what it says.  Timings are not
asserted (they belong to the benchmark); checked is that the players really
alternate between the processes given (a "2 processes" run that sent nearly
everyone to one of them was measuring one process) and that each is matched."""

from __future__ import annotations

import rooms
import ws
from bench import scaling
from tests.support import running


def _counting_app(seen: list[str], name: str) -> ws.App:
    async def quick(room: rooms.Room) -> None:
        return None

    def identify(request: ws.Request) -> dict[str, str]:
        seen.append(name)
        return {"name": f"{name}-{len(seen)}"}

    app = ws.App()
    app.route("/match")(rooms.Lobby(2, quick, auth=identify))
    return app


async def test_matching_alternates_between_the_processes_and_counts_every_player():
    seen: list[str] = []
    async with running(_counting_app(seen, "a")) as a, running(_counting_app(seen, "b")) as b:
        rate = await scaling.matching([a.port, b.port], players=40, concurrency=10)
    assert rate > 0
    assert sorted(seen) == ["a"] * 20 + ["b"] * 20
