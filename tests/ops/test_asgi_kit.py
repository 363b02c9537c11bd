"""The operator's kit mounted in a Starlette host under uvicorn: /games/metrics
reports the ASGI server's sockets, and the admin page at /games/admin/ works
below the mount (its links, redirect and cookie are relative)."""

from __future__ import annotations

import pytest

from tests.support import Bot, eventually, scaled
from tests.support.asgi import uvicorn_running

from .helpers import TOKEN, http, pair, tictactoe_site
from .test_metrics import scrape_values

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
pytestmark = pytest.mark.timeout(scaled(60))


async def test_metrics_and_the_admin_page_below_a_starlette_mount() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    import ws

    app, lobby = tictactoe_site()
    games = ws.asgi(app)
    host = Starlette(routes=[Mount("/games", app=games)], lifespan=lambda _: games.lifespan())
    async with uvicorn_running(host) as served:
        x, o = await pair(served, "/games/tictactoe")
        x.send({"cell": 0})
        await o.recv_type("move")
        status, _, body = await http(served, "GET", "/games/metrics")
        values = scrape_values(body.decode())
        assert status == 200 and values[("ws_connections", ())] == 2
        assert values[("ws_messages_received_total", ())] == 1
        assert values[("rooms_active_rooms", (("lobby", "tictactoe"),))] == 1

        assert (await http(served, "GET", "/games/admin"))[1]["location"] == "admin/"
        assert (await http(served, "GET", "/games/admin/"))[0] == 401
        status, headers, _ = await http(served, "POST", "/games/admin/login", body=f"token={TOKEN}".encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303 and headers["location"] == "./"
        cookie = headers["set-cookie"].split(";")[0]
        status, _, body = await http(served, "GET", "/games/admin/", headers={"Cookie": cookie})
        assert status == 200 and b"api/state" in body
        status, _, body = await http(served, "GET", "/games/admin/api/state", headers={"Cookie": cookie})
        assert status == 200 and b'"tictactoe"' in body
        for bot in (x, o):
            await bot.aclose()
        await eventually(lambda: not lobby.rooms, scaled(5))
        status, _, body = await http(served, "GET", "/games/metrics")
        assert scrape_values(body.decode())[("ws_closes_total", (("code", "1000"),))] == 2
        watcher = await Bot.connect(served, "/games/tictactoe", watch="nope")
        await watcher.closed()
