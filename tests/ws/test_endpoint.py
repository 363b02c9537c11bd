"""``ws.endpoint`` and ``ws.aggregate`` over real sockets: route arguments, the
close codes that end a handler, refused upgrades, grouping, leaving, shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

import ws
from tests.support import closed_by_server, eventually, running, scaled, upgrade_request, url

# ---------------------------------------------------------------------- helpers


async def response_head(server, data: bytes) -> tuple[int, dict[str, str]]:
    """Send raw *data*; return the status and (lower-cased) headers of the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(3))
    finally:
        writer.close()
    status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


# ---------------------------------------------------------------------- endpoint


async def test_route_arguments_arrive_as_keywords():
    app = ws.App()

    @app.route("/room/{name}")
    @ws.endpoint
    async def room(request, sock, name):
        await sock.text(f"{name}|{request.path}")

    @app.route("/table/{number:int}/seat/{seat}")
    @ws.endpoint
    async def table(request, sock, **params):
        await sock.text(repr(sorted(params.items())))

    async with running(app) as server:
        client = await ws.connect(url(server, "/room/lounge"))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "lounge|/room/lounge"
        await closed_by_server(client)
        client = await ws.connect(url(server, "/table/12/seat/north"))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == repr([("number", 12), ("seat", "north")])
        await closed_by_server(client)


async def test_handler_return_closes_with_1000():
    app = ws.App()

    @app.route("/once")
    @ws.endpoint
    async def once(request, sock):
        msg = await sock
        await sock.text(f"got {msg}")

    async with running(app) as server:
        client = await ws.connect(url(server, "/once"))
        client.text("x")
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "got x"
        exc = await closed_by_server(client)
    assert exc.code == 1000 and exc.message is not None and exc.message.code == 1000


async def test_handler_error_closes_with_1011_and_server_keeps_serving(echo_app, caplog):
    @echo_app.route("/broken")
    @ws.endpoint
    async def broken(request, sock):
        await sock
        raise ValueError("secret internals")

    async with running(echo_app) as server:
        with caplog.at_level(logging.ERROR, logger="ws"):
            client = await ws.connect(url(server, "/broken"))
            client.text("trigger")
            exc = await closed_by_server(client)
        assert exc.code == 1011
        assert "secret" not in exc.reason  # internals never leak to the peer
        assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)
        # The server is still there for everyone else.
        for i in range(3):
            other = await ws.connect(url(server, "/echo"))
            other.text(f"hello {i}")
            assert await asyncio.wait_for(other.recv(), scaled(2)) == f"hello {i}"
            other.close()
            await asyncio.wait_for(other.wait_closed(), scaled(2))


async def test_peer_disconnect_ends_handler_quietly(caplog):
    app = ws.App()
    done = asyncio.get_running_loop().create_future()

    @app.route("/")
    @ws.endpoint
    async def handler(request, sock):
        try:
            await sock
        finally:
            done.set_result(None)

    async with running(app) as server:
        with caplog.at_level(logging.INFO, logger="ws"):
            client = await ws.connect(url(server))
            client.abort()
            await asyncio.wait_for(done, scaled(2))
            await eventually(lambda: not server.websockets)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("request_bytes", "status", "header"),
    [
        (upgrade_request(key=False), 400, None),
        (upgrade_request(upgrade=False), 400, None),
        (upgrade_request(version="8"), 426, ("sec-websocket-version", "13")),
        (upgrade_request(version=None), 426, ("sec-websocket-version", "13")),
        (upgrade_request(method="POST"), 405, None),
        (upgrade_request("/anything", method="POST"), 405, ("allow", "GET")),
        (upgrade_request("/nowhere"), 404, None),
    ],
    ids=["no-key", "no-upgrade", "version-8", "no-version", "post-route", "post-handshake", "no-route"],
)
async def test_bad_upgrade_gets_an_http_status(echo_app, request_bytes, status, header):
    called = []

    # A route that accepts POST, so the handshake itself has to refuse the method.
    @echo_app.route("/anything", methods=["GET", "POST"])
    @ws.endpoint
    async def anything(request, sock):
        called.append(sock)

    async with running(echo_app) as server:
        got, headers = await response_head(server, request_bytes)
        assert got == status
        if header is not None:
            name, value = header
            assert headers[name] == value
        # Refused upgrades never reach a handler, and the server still works.
        assert called == []
        client = await ws.connect(url(server, "/echo"))
        client.text("ok")
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "ok"
        client.close()
        await asyncio.wait_for(client.wait_closed(), scaled(2))


# ---------------------------------------------------------------------- aggregate


class Duel:
    """An app with ``@ws.aggregate(2)`` at ``/duel/{arena}`` running ``body(request, socks, arena)``."""

    def __init__(self, body, n=2, **options):
        self.calls = []
        self.results = asyncio.Queue()

        async def duel(request, socks, arena):
            self.calls.append((request, list(socks), arena))
            try:
                value = await body(request, socks, arena)
            except BaseException as exc:
                self.results.put_nowait(("raised", exc))
                raise
            self.results.put_nowait(("returned", value))

        self.app = ws.App()
        self.handler = ws.aggregate(n, **options)(duel)
        self.app.route("/duel/{arena}")(self.handler)

    async def join(self, server, arena, who=None, expect_waiting=None):
        path = f"/duel/{arena}" + (f"?who={who}" if who else "")
        client = await ws.connect(url(server, path))
        if expect_waiting is not None:
            await eventually(lambda: self.handler.waiting() == expect_waiting)
        return client

    async def result(self, timeout=scaled(3.0)):
        return await asyncio.wait_for(self.results.get(), timeout)


async def test_aggregate_groups_two_clients_in_arrival_order():
    async def body(request, socks, arena):
        for i, sock in enumerate(socks):
            await sock.text(f"{i} {sock.request.query['who']} {arena}")
        await asyncio.gather(*(sock.recv() for sock in socks))

    duel = Duel(body)
    async with running(duel.app) as server:
        first = await duel.join(server, "x", "first", expect_waiting={"/duel/x": 1})
        second = await duel.join(server, "x", "second")
        assert await asyncio.wait_for(first.recv(), scaled(2)) == "0 first x"
        assert await asyncio.wait_for(second.recv(), scaled(2)) == "1 second x"
        assert duel.handler.waiting() == {}
        first.text("done")
        second.text("done")
        assert await duel.result() == ("returned", None)
        assert (await closed_by_server(first)).code == 1000
        assert (await closed_by_server(second)).code == 1000
    [(request, socks, arena)] = duel.calls
    assert arena == "x"
    assert request is socks[0].request
    assert socks[0].request.path == "/duel/x" and socks[1].request.path == "/duel/x"
    assert [s.request.query["who"] for s in socks] == ["first", "second"]


async def test_aggregate_does_not_group_different_arenas():
    async def body(request, socks, arena):
        return [s.request.query["who"] for s in socks]

    duel = Duel(body)
    async with running(duel.app) as server:
        a = await duel.join(server, "x", "a", expect_waiting={"/duel/x": 1})
        b = await duel.join(server, "y", "b", expect_waiting={"/duel/x": 1, "/duel/y": 1})
        await asyncio.sleep(0.05)  # what is tested: within 0.05 s, no group of x and y forms
        assert duel.calls == []
        c = await duel.join(server, "x", "c")
        assert await duel.result() == ("returned", ["a", "c"])
        assert duel.handler.waiting() == {"/duel/y": 1}
        for client in (a, c):
            assert (await closed_by_server(client)).code == 1000
        b.close()
        await asyncio.wait_for(b.wait_closed(), scaled(2))
        await eventually(lambda: duel.handler.waiting() == {})


@pytest.mark.parametrize("how", ["abort", "close"])
async def test_waiting_client_that_leaves_is_dropped_from_its_group(how):
    async def body(request, socks, arena):
        return [s.request.query["who"] for s in socks]

    duel = Duel(body)
    async with running(duel.app) as server:
        gone = await duel.join(server, "z", "gone", expect_waiting={"/duel/z": 1})
        if how == "abort":
            gone.abort()
        else:
            gone.close(4000, "changed my mind")
        await asyncio.wait_for(gone.wait_closed(), scaled(2))
        await eventually(lambda: duel.handler.waiting() == {})
        b = await duel.join(server, "z", "b", expect_waiting={"/duel/z": 1})
        c = await duel.join(server, "z", "c")
        assert await duel.result() == ("returned", ["b", "c"])
        for client in (b, c):
            assert (await closed_by_server(client)).code == 1000
    assert len(duel.calls) == 1


async def test_aggregate_handler_error_closes_all_with_1011(caplog):
    async def body(request, socks, arena):
        raise ValueError("boom")

    duel = Duel(body)
    async with running(duel.app) as server:
        with caplog.at_level(logging.ERROR, logger="ws"):
            a = await duel.join(server, "e", expect_waiting={"/duel/e": 1})
            b = await duel.join(server, "e")
            kind, exc = await duel.result()
            assert kind == "raised" and type(exc) is ValueError
            assert (await closed_by_server(a)).code == 1011
            assert (await closed_by_server(b)).code == 1011
        # ...and the next pair is served normally.
        c = await duel.join(server, "e", expect_waiting={"/duel/e": 1})
        d = await duel.join(server, "e")
        await duel.result()
        assert (await closed_by_server(c)).code == 1011
        assert (await closed_by_server(d)).code == 1011
    assert len(duel.calls) == 2


async def test_server_shutdown_closes_aggregate_sockets_with_1001():
    started = asyncio.Event()

    async def body(request, socks, arena):
        started.set()
        async for sock, msg in ws.mux(*socks):
            pass

    duel = Duel(body)
    async with running(duel.app) as server:
        a = await duel.join(server, "s", expect_waiting={"/duel/s": 1})
        b = await duel.join(server, "s")
        await asyncio.wait_for(started.wait(), scaled(2))
        closing = asyncio.ensure_future(server.aclose())
        ea = await closed_by_server(a)
        eb = await closed_by_server(b)
        await asyncio.wait_for(closing, scaled(5))
        kind, exc = await duel.result()
    assert ea.code == 1001 and eb.code == 1001
    assert kind == "raised" and type(exc) is ws.Closed and exc.code == 1001


async def test_aggregate_without_decorator_and_with_a_key():
    seen = asyncio.Queue()

    async def game(request, socks):
        seen.put_nowait([(s.request.query["room"], s.request.query["who"]) for s in socks])

    app = ws.App()
    handler = ws.aggregate(3, game, key=lambda request: request.query["room"])
    app.add_route("/play", handler)

    async with running(app) as server:
        clients = []
        expected_waiting = [{"red": 1}, {"red": 1, "blue": 1}, {"red": 2, "blue": 1}, {"red": 2, "blue": 2}]
        for (room, who), waiting in zip([("red", "1"), ("blue", "2"), ("red", "3"), ("blue", "4")], expected_waiting):
            clients.append(await ws.connect(url(server, f"/play?room={room}&who={who}")))
            await eventually(lambda: handler.waiting() == waiting)
        assert seen.empty()
        clients.append(await ws.connect(url(server, "/play?room=red&who=5")))
        assert await asyncio.wait_for(seen.get(), scaled(2)) == [("red", "1"), ("red", "3"), ("red", "5")]
        assert handler.waiting() == {"blue": 2}
        for i in (0, 2, 4):
            assert (await closed_by_server(clients[i])).code == 1000
        for i in (1, 3):
            clients[i].close()
            await asyncio.wait_for(clients[i].wait_closed(), scaled(2))
        await eventually(lambda: handler.waiting() == {})
