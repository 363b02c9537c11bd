"""``/metrics``: a scrape parsed with ``prometheus_client.parser`` after a played
game (with a reconnect) has the values the game implies; the exposition is
valid, lists each family once, and is off unless asked for."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

import rooms
import ws
from examples import tictactoe
from tests.rooms.redis_fixtures import redis_server  # noqa: F401
from tests.support import Bot, eventually, http_get, running, scaled

pytestmark = pytest.mark.timeout(scaled(60))


def scrape_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value; fails on a family listed twice."""
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(names) == len(set(names)), "a family is listed twice"
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


async def scrape(server: ws.Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = await http_get(server, "/metrics")
    assert status == 200
    return scrape_values(body.decode())


def tictactoe_app(**lobby_options: object) -> tuple[ws.App, rooms.Lobby]:
    app = ws.App(metrics=True)
    guide = tictactoe.tictactoe
    lobby = app.route("/tictactoe")(rooms.Lobby(2, guide.game, reconnect=30.0, **lobby_options))
    return app, lobby


async def play_game_with_a_reconnect(server: ws.Server) -> tuple[list[Bot], int]:
    """X wins on the top row; O drops (1001) after its first move and comes back
    with its seat token.  Returns the bots still connected (read to the end) and
    how many messages the server sent to the connection that dropped."""
    x = await Bot.connect(server, "/tictactoe", name="x")
    await x.recv_type("lobby")
    o = await Bot.connect(server, "/tictactoe", name="o")
    for bot in (x, o):
        await bot.recv_type("matched")
        await bot.recv_type("start")
    seats = {x.matched["seat"]: x, o.matched["seat"]: o}  # type: ignore[index]
    first, second = seats[0], seats[1]
    first.send({"cell": 0})
    await second.recv_type("move")
    second.send({"cell": 3})
    await second.recv_type("move")
    dropped = second
    dropped.sock.close(1001, "reload")
    await dropped.sock.wait_closed()
    await first.recv_type("player_left")
    back = await Bot.connect(server, "/tictactoe", token=dropped.matched["token"])  # type: ignore[index]
    await back.recv_type("resumed")
    await first.recv_type("player_returned")
    for a, b in ((first, 1), (back, 4), (first, 2)):
        a.send({"cell": b})
        await first.recv_type("move")
        await back.recv_type("move")
    for bot in (first, back):
        messages, closed = await bot.messages_until_closed()
        assert closed.code == 1000 and messages[-1]["type"] == "ended"
    return [first, back], len(dropped.seen)


async def test_a_scrape_after_a_played_game() -> None:
    app, lobby = tictactoe_app()
    async with running(app) as server:
        bots, dropped_seen = await play_game_with_a_reconnect(server)
        await eventually(lambda: not server.websockets, scaled(5))
        values = await scrape(server)
    # Client -> server: five moves (one from the connection that dropped).
    assert values[("ws_messages_received_total", ())] == 5
    # Server -> client: everything the three connections read (each read to its close,
    # but the dropped one, which read all it was sent before it dropped).
    assert values[("ws_messages_sent_total", ())] == sum(len(b.seen) for b in bots) + dropped_seen
    assert values[("ws_connections", ())] == 0
    assert values[("ws_closes_total", (("code", "1000"),))] == 2
    assert values[("ws_closes_total", (("code", "1001"),))] == 1
    lobby_label = (("lobby", "tictactoe"),)
    assert values[("rooms_active_rooms", lobby_label)] == 0
    assert values[("rooms_waiting_players", (("lobby", "tictactoe"), ("mode", "")))] == 0
    assert values[("rooms_rooms_finished_total", (("lobby", "tictactoe"), ("outcome", "completed")))] == 1
    assert values[("rooms_reconnects_total", lobby_label)] == 1
    assert values[("rooms_match_wait_seconds_count", lobby_label)] == 2
    assert values[("rooms_match_wait_seconds_bucket", (("le", "+Inf"), ("lobby", "tictactoe")))] == 2
    assert 0 <= values[("rooms_match_wait_seconds_sum", lobby_label)] < scaled(10)
    assert values[("ws_server_closing", ())] == 0
    # The default registry's process metrics come after ours.
    assert any(name.startswith("process_") or name.startswith("python_") for name, _ in values)


async def test_gauges_while_players_wait_and_play() -> None:
    app, lobby = tictactoe_app(mode=lambda request: request.query.get("mode", "classic"))
    async with running(app) as server:
        waiting = await Bot.connect(server, "/tictactoe", name="w", mode="blitz")
        await waiting.recv_type("lobby")
        a = await Bot.connect(server, "/tictactoe", name="a")
        await a.recv_type("lobby")
        b = await Bot.connect(server, "/tictactoe", name="b")
        for bot in (a, b):
            await bot.recv_type("matched")
            await bot.recv_type("start")
        watcher = await Bot.connect(server, "/tictactoe", watch=a.matched["room"])  # type: ignore[index]
        await watcher.recv_type("spectating")
        values = await scrape(server)
        assert values[("ws_connections", ())] == 4
        assert values[("rooms_waiting_players", (("lobby", "tictactoe"), ("mode", "blitz")))] == 1
        assert values[("rooms_waiting_players", (("lobby", "tictactoe"), ("mode", "classic")))] == 0
        assert values[("rooms_active_rooms", (("lobby", "tictactoe"),))] == 1
        assert values[("rooms_connected_players", (("lobby", "tictactoe"),))] == 2
        assert values[("rooms_spectators", (("lobby", "tictactoe"),))] == 1
        for bot in (waiting, a, b, watcher):
            await bot.aclose()
        await eventually(lambda: not server.websockets, scaled(5))
        values = await scrape(server)
        assert values[("rooms_rooms_finished_total", (("lobby", "tictactoe"), ("outcome", "player_left")))] == 1


async def test_metrics_are_off_by_default_and_one_call_turns_them_on() -> None:
    app = ws.App()
    async with running(app) as server:
        assert (await http_get(server, "/metrics"))[0] == 404
    app.mount_metrics("/internal/metrics", registry=None)
    async with running(app) as server:
        status, body = await http_get(server, "/internal/metrics")
        assert status == 200
        assert not any(name.startswith("process_") for name, _ in scrape_values(body.decode()))


async def test_lobbies_with_one_name_add_up_and_a_shared_source_counts_once() -> None:
    """Two lobbies named alike (the chat's groups) are one series; a source
    added twice, or given as a route handler and a source, is collected once."""
    app = ws.App(metrics=True)
    one = app.route("/one")(rooms.Lobby(2, tictactoe.tictactoe.game, name="group"))
    two = app.route("/two")(rooms.Lobby(3, tictactoe.tictactoe.game, name="group"))
    app.add_metrics_source(one)
    async with running(app) as server:
        bots = [await Bot.connect(server, path) for path in ("/one", "/two", "/two")]
        for bot in bots:
            await bot.recv_type("lobby")
        await eventually(lambda: one.waiting() == 1 and two.waiting() == 2, scaled(5))
        values = await scrape(server)
        assert values[("rooms_waiting_players", (("lobby", "group"), ("mode", "")))] == 3
        for bot in bots:
            await bot.aclose()


def test_the_builder_refuses_a_family_asked_for_twice_differently() -> None:
    builder = ws.MetricsBuilder()
    builder.gauge("x", "an x", ("a",)).add(("1",), 2)
    builder.gauge("x", "an x", ("a",)).add(("1",), 3)
    assert builder.families()[0].values == {("1",): 5.0}
    with pytest.raises(ValueError):
        builder.gauge("x", "an x", ("b",))
    with pytest.raises(ValueError):
        builder.counter("y", "a counter without _total")
    with pytest.raises(ValueError):
        builder.gauge("x", "an x", ("a",)).add(("1", "2"), 1)


def test_a_collector_in_a_registry_of_ones_own() -> None:
    """What a host app does to serve these from its own /metrics."""
    from prometheus_client import CollectorRegistry, generate_latest

    app, lobby = tictactoe_app()
    registry = CollectorRegistry()
    registry.register(ws.MetricsCollector(app, lambda: None))
    values = scrape_values(generate_latest(registry).decode())
    assert values[("rooms_active_rooms", (("lobby", "tictactoe"),))] == 0
    assert ("ws_connections", ()) not in values  # no server yet


async def test_under_asgi_the_scrape_reads_the_asgi_server() -> None:
    app, lobby = tictactoe_app()
    served = ws.asgi(app)
    await served.startup()
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "raw_path": b"/metrics", "query_string": b"", "headers": [], "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}
    await served(scope, receive, send)
    await served.shutdown()
    assert sent[0]["status"] == 200
    values = scrape_values(b"".join(m.get("body", b"") for m in sent[1:]).decode())
    assert values[("ws_connections", ())] == 0
    await asyncio.sleep(0)


async def test_a_cluster_node_reports_its_bridge(redis_server) -> None:  # noqa: F811
    """Two nodes of a Redis cluster: a room hosted by one with a player connected
    to the other; each node's scrape has its cluster gauges, labelled by node."""

    async def hold(room: rooms.Room) -> str:
        async for _player, msg in room:
            if msg == "end":
                return "done"
        return "left"

    servers, backends = [], []
    async with contextlib.AsyncExitStack() as stack:
        for name in ("mx", "my"):
            backend = rooms.RedisBackend(redis_server.url, prefix="m:", node_id=name, heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
            app = ws.App(metrics=True)
            app.route("/game")(rooms.Lobby(2, hold, backend=backend, name="hold"))
            server = await stack.enter_async_context(running(app))
            await backend.start(server)
            servers.append(server)
            backends.append(backend)
        a = await Bot.connect(servers[0], "/game", name="a")
        await a.recv_type("lobby")
        b = await Bot.connect(servers[1], "/game", name="b")
        for bot in (a, b):
            await bot.recv_type("matched")
        for _ in range(5):  # traffic through the bridge, both ways
            a.send("ping")
            b.send("ping")
        scrapes = [await scrape(server) for server in servers]
        bridged = {name: scrapes[i][("rooms_cluster_bridged_players", (("node", name),))] for i, name in enumerate(("mx", "my"))}
        remote = {name: scrapes[i][("rooms_cluster_remote_players", (("node", name),))] for i, name in enumerate(("mx", "my"))}
        assert sorted(bridged.values()) == [0, 1] and sorted(remote.values()) == [0, 1]
        for i, name in enumerate(("mx", "my")):
            assert 0 <= scrapes[i][("rooms_cluster_bridge_lag_seconds", (("node", name),))] < scaled(5)
            assert scrapes[i][("rooms_cluster_paused", (("node", name),))] == 0
        rooms_here = [s[("rooms_active_rooms", (("lobby", "hold"),))] for s in scrapes]
        assert sorted(rooms_here) == [0, 1]
        a.send("end")
        await asyncio.gather(a.aclose(), b.aclose())
