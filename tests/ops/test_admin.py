"""The admin page's API: 401 without the token, the snapshot of lobbies and
rooms, ending a room and removing a player; and on a Redis cluster, every
process seen and acted on from one."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

import rooms
import ws
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import Bot, eventually, running, scaled

from .helpers import TOKEN, http, http_json, pair, tictactoe_site

pytestmark = pytest.mark.timeout(scaled(60))


async def test_everything_is_refused_without_the_token() -> None:
    app, _ = tictactoe_site()
    async with running(app) as server:
        for method, path in (("GET", "/admin/"), ("GET", "/admin/api/state"), ("POST", "/admin/api/action")):
            status, headers, body = await http(server, method, path)
            assert status == 401, path
            assert headers["www-authenticate"].startswith("Bearer")
        assert (await http_json(server, "GET", "/admin/api/state", token="wrong"))[0] == 401
        status, headers, body = await http(server, "GET", "/admin/")
        assert b'name="token"' in body  # the page asks for the token
        # The cookie alone does not authorise an action without the page's header.
        status, headers, _ = await http(server, "POST", "/admin/login", body=f"token={TOKEN}".encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303 and headers["location"] == "./"
        cookie = headers["set-cookie"].split(";")[0]
        assert TOKEN not in cookie and "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        assert (await http(server, "GET", "/admin/api/state", headers={"Cookie": cookie}))[0] == 200
        action = b'{"action": "end", "lobby": "tictactoe", "room": "x"}'
        assert (await http(server, "POST", "/admin/api/action", headers={"Cookie": cookie}, body=action))[0] == 401
        status, _, _ = await http(server, "POST", "/admin/api/action", headers={"Cookie": cookie, "X-Rooms-Admin": "1"}, body=action)
        assert status == 200
        status, _, _ = await http(server, "POST", "/admin/login", body=b"token=nope", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 401
        assert (await http(server, "GET", "/admin"))[1]["location"] == "admin/"


def test_the_page_is_off_unless_given_a_token(monkeypatch) -> None:
    monkeypatch.delenv(rooms.admin.TOKEN_VARIABLE, raising=False)
    with pytest.raises(ValueError, match="ROOMS_ADMIN_TOKEN"):
        rooms.mount_admin(ws.App())
    monkeypatch.setenv(rooms.admin.TOKEN_VARIABLE, "from-the-environment")
    page = rooms.mount_admin(ws.App())
    assert page.authorised(ws.Request("GET", "/admin/api/state", "/admin/api/state", headers=ws.Headers([("Authorization", "Bearer from-the-environment")])))


async def test_the_snapshot_shows_queues_rooms_players_spectators_and_state() -> None:
    app, lobby = tictactoe_site(mode=lambda request: request.query.get("mode", "classic"))
    async with running(app) as server:
        x, o = await pair(server)
        x.send({"cell": 4})
        await o.recv_type("move")
        watcher = await Bot.connect(server, "/tictactoe", watch=x.matched["room"])  # type: ignore[index]
        await watcher.recv_type("spectating")
        waiting = await Bot.connect(server, "/tictactoe", name="w", mode="blitz")
        await waiting.recv_type("lobby")
        status, state = await http_json(server, "GET", "/admin/api/state")
        assert status == 200 and state["errors"] == []
        [process] = state["processes"]
        assert process["here"] is True
        [shown] = process["lobbies"]
        assert shown["name"] == "tictactoe" and shown["n"] == 2
        assert shown["waiting"] == {"blitz": 1, "classic": 0}
        [room] = shown["rooms"]
        assert room["id"] == x.matched["room"] and room["mode"] == "classic"  # type: ignore[index]
        assert [(p["seat"], p["name"], p["connected"]) for p in room["players"]] == [(0, "x", True), (1, "o", True)]
        assert room["spectators"] == 1 and 0 <= room["age"] < scaled(20)
        assert room["state"]["board"][4] == "X" and room["state"]["turn"] == 1
        for bot in (x, o, watcher, waiting):
            await bot.aclose()


async def test_ending_a_room_and_removing_a_player() -> None:
    app, lobby = tictactoe_site()
    async with running(app) as server:
        x, o = await pair(server)
        status, answer = await http_json(server, "POST", "/admin/api/action", {"action": "end", "lobby": "tictactoe", "room": x.matched["room"]})  # type: ignore[index]
        assert status == 200 and answer == {"ok": True, "detail": "done"}
        for bot in (x, o):
            messages, closed = await bot.messages_until_closed()
            assert messages[-1]["type"] == "ended"
            assert messages[-1]["result"] == {"reason": "ended_by_operator", "detail": "ended by an operator"}
            assert closed.code == 1000
        await eventually(lambda: not lobby.rooms, scaled(5))
        assert lobby.stats.finished == {"operator": 1}
        # A second time: nothing to end.
        status, answer = await http_json(server, "POST", "/admin/api/action", {"action": "end", "lobby": "tictactoe", "room": x.matched["room"]})  # type: ignore[index]
        assert answer["ok"] is False

        x, o = await pair(server)
        room_id = x.matched["room"]  # type: ignore[index]
        status, answer = await http_json(server, "POST", "/admin/api/action", {"action": "remove", "lobby": "tictactoe", "room": room_id, "seat": 1})
        assert answer["ok"] is True
        messages, closed = await o.messages_until_closed()
        assert messages[-1] == {"type": "error", "error": "removed", "detail": "removed by an operator"}
        assert closed.code == 1000
        # The seat is not held: the token is refused, and the game sees the player leave.
        back = await Bot.connect(server, "/tictactoe", token=o.matched["token"])  # type: ignore[index]
        assert (await back.recv_type("error"))["error"] in ("seat_unavailable", "unknown_room")
        messages, closed = await x.messages_until_closed()
        assert [m["type"] for m in messages][-2:] == ["player_left", "ended"]
        assert messages[-1]["result"]["reason"] == "player_left"
        await back.aclose()
        status, answer = await http_json(server, "POST", "/admin/api/action", {"action": "remove", "lobby": "tictactoe", "room": room_id, "seat": 1})
        assert answer["ok"] is False
        status, answer = await http_json(server, "POST", "/admin/api/action", {"action": "end", "lobby": "nope", "room": room_id})
        assert status == 404
        status, answer = await http_json(server, "POST", "/admin/api/action", {"lobby": "tictactoe"})
        assert status == 400


async def hold(room: rooms.Room) -> str:
    room.state = {"host": "here"}
    async for _player, msg in room:
        if msg == "end":
            return "done"
    return "left"


async def test_a_cluster_is_seen_and_acted_on_from_any_process(redis_server) -> None:  # noqa: F811
    async with contextlib.AsyncExitStack() as stack:
        servers, lobbies = [], []
        for name in ("ax", "ay"):
            backend = rooms.RedisBackend(redis_server.url, prefix="a:", node_id=name, heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
            app = ws.App()
            lobbies.append(app.route("/game")(rooms.Lobby(2, hold, backend=backend, name="hold", reconnect=10.0)))
            rooms.mount_admin(app, token=TOKEN)
            server = await stack.enter_async_context(running(app))
            await backend.start(server)
            servers.append(server)
        # A room hosted by ay (its ticket completed the group), one player on each node.
        a = await Bot.connect(servers[0], "/game", name="a")
        await a.recv_type("lobby")
        b = await Bot.connect(servers[1], "/game", name="b")
        for bot in (a, b):
            await bot.recv_type("matched")
        await eventually(lambda: len(lobbies[1].rooms) == 1, scaled(5))
        room_id = lobbies[1].rooms[0].id
        waiting = await Bot.connect(servers[0], "/game", name="w")
        await waiting.recv_type("lobby")

        status, state = await http_json(servers[0], "GET", "/admin/api/state")
        assert status == 200 and state["errors"] == []
        by_node = {p["node"]: p for p in state["processes"]}
        assert set(by_node) == {"ax", "ay"} and by_node["ax"]["here"] and not by_node["ay"]["here"]
        assert by_node["ax"]["lobbies"][0]["waiting"] == {"": 1}
        assert by_node["ax"]["lobbies"][0]["rooms"] == []
        [room] = by_node["ay"]["lobbies"][0]["rooms"]
        assert room["id"] == room_id and room["state"] == {"host": "here"}
        assert sorted(p["name"] for p in room["players"]) == ["a", "b"]

        # Remove the player connected to ax from the room ay hosts, asking ax.
        seat_a = next(p["seat"] for p in room["players"] if p["name"] == "a")
        status, answer = await http_json(servers[0], "POST", "/admin/api/action", {"action": "remove", "node": "ay", "lobby": "hold", "room": room_id, "seat": seat_a})
        assert answer == {"ok": True, "detail": "done"}
        messages, closed = await a.messages_until_closed()
        assert messages[-1]["error"] == "removed" and closed.code == 1000
        # End it, from ax again.
        status, answer = await http_json(servers[0], "POST", "/admin/api/action", {"action": "end", "node": "ay", "lobby": "hold", "room": room_id})
        await eventually(lambda: not lobbies[1].rooms, scaled(5))
        messages, closed = await b.messages_until_closed()
        assert messages[-1]["type"] == "ended" and closed.code == 1000
        await waiting.aclose()
        await asyncio.sleep(0)
