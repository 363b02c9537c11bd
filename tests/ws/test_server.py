"""Tests for ws.server: the HTTP/1.1 server, its limits, upgrades and shutdown, over real sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
import websockets.asyncio.client

import ws
from tests.support import eventually, raw_request, running, scaled, settled, url


async def read_response(reader: asyncio.StreamReader, timeout: float = scaled(5.0)) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response (status, lower-cased header fields, body by Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), timeout)
    return status, headers, body


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


def get(path: str, *extra: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def wait_eof(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Read until the server closes the connection; fail if it takes longer than *timeout*.

    A server dropping a client that is still sending closes with unread input in
    its socket, which the kernel turns into a reset: that is the close too."""
    data = b""
    async with asyncio.timeout(timeout):
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data


@pytest.fixture
def app() -> ws.App:
    app = ws.App()

    @app.route("/hello")
    async def hello(request):
        return ws.Response.text("hello, world")

    @app.route("/json", methods=["GET", "POST"])
    async def as_json(request):
        return ws.Response.json({"method": request.method, "body": request.body.decode(), "q": request.query})

    @app.route("/users/{name}/posts/{post:int}")
    async def post(request, name, post):
        return {"name": name, "post": post, "type": type(post).__name__}

    @app.route("/slow/{delay}")
    async def slow(request, delay):
        await asyncio.sleep(float(delay))  # a handler that takes its time: what its tests are about
        return f"slept {delay}"

    @app.route("/boom")
    async def boom(request):
        raise RuntimeError("handler bug")

    @app.route("/echo")
    @ws.endpoint
    async def echo(request, sock):
        async for msg in sock:
            await sock.send(msg)

    return app


# -- routing and responses ----------------------------------------------------------------


async def test_plain_text_response(app: ws.App) -> None:
    async with running(app) as server:
        status, headers, body = parse(await raw_request(server, get("/hello", "Connection: close")))
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert body == b"hello, world"


async def test_json_response_with_body_and_query(app: ws.App) -> None:
    request = b"POST /json?a=1&b=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping"
    async with running(app) as server:
        status, headers, body = parse(await raw_request(server, request))
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"method": "POST", "body": "ping", "q": {"a": "1", "b": "2"}}


async def test_path_parameters(app: ws.App) -> None:
    async with running(app) as server:
        status, _, body = parse(await raw_request(server, get("/users/ada%20l/posts/42", "Connection: close")))
        assert status == 200
        assert json.loads(body) == {"name": "ada l", "post": 42, "type": "int"}
        # {post:int} does not match letters: 404.
        status, _, _ = parse(await raw_request(server, get("/users/ada/posts/x", "Connection: close")))
        assert status == 404


async def test_404(app: ws.App) -> None:
    async with running(app) as server:
        status, _, _ = parse(await raw_request(server, get("/nothing/here", "Connection: close")))
    assert status == 404


async def test_405_with_allow(app: ws.App) -> None:
    async with running(app) as server:
        status, headers, _ = parse(await raw_request(server, get("/hello", "Connection: close", method="DELETE")))
    assert status == 405
    assert {m.strip() for m in headers["allow"].split(",")} == {"GET", "HEAD"}


async def test_head_has_no_body(app: ws.App) -> None:
    async with running(app) as server:
        status, headers, body = parse(await raw_request(server, get("/hello", "Connection: close", method="HEAD")))
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(b"hello, world"))


async def test_static_files(tmp_path) -> None:
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "app.js").write_text("let x = 1;")
    (tmp_path.parent / "secret.txt").write_text("do not serve")
    app = ws.App()
    app.mount_static("/static", tmp_path)
    app.add_route("/files/{path:path}", ws.static(tmp_path))
    async with running(app) as server:
        for prefix in ("/static", "/files"):
            status, headers, body = parse(await raw_request(server, get(f"{prefix}/sub/app.js", "Connection: close")))
            assert status == 200 and body == b"let x = 1;"
            assert "javascript" in headers["content-type"]
            status, headers, body = parse(await raw_request(server, get(f"{prefix}/", "Connection: close")))
            assert status == 200 and body == b"<h1>home</h1>" and headers["content-type"].startswith("text/html")
            for bad in ("/missing.txt", "/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt"):
                status, _, body = parse(await raw_request(server, get(prefix + bad, "Connection: close")))
                assert status == 404, bad
                assert b"do not serve" not in body


async def test_handler_raising_gives_500_and_the_server_keeps_working(app: ws.App, caplog) -> None:
    async with running(app) as server:
        status, _, body = parse(await raw_request(server, get("/boom")))
        assert status == 500
        assert b"handler bug" not in body  # internals do not leak
        status, _, body = parse(await raw_request(server, get("/hello", "Connection: close")))
        assert status == 200 and body == b"hello, world"
    assert "handler bug" in caplog.text


async def test_port_zero_picks_a_free_port(app: ws.App) -> None:
    server = await ws.serve(app, "127.0.0.1", 0)
    async with server:
        assert server.port > 0
        status, _, _ = parse(await raw_request(server, get("/hello", "Connection: close")))
        assert status == 200
    assert server.statistics() == {"http_connections": 0, "websockets": 0, "tasks": 0}


# -- connections ----------------------------------------------------------------------------


async def test_keep_alive_two_requests_on_one_connection(app: ws.App) -> None:
    async with running(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(get("/hello"))
            status, headers, body = await read_response(reader)
            assert status == 200 and body == b"hello, world"
            assert headers.get("connection", "").lower() != "close"
            writer.write(get("/users/x/posts/1", "Connection: close"))
            status, _, body = await read_response(reader)
            assert status == 200 and json.loads(body)["name"] == "x"
            assert await wait_eof(reader, scaled(2)) == b""
        finally:
            writer.close()


async def test_pipelined_requests_answered_in_order(app: ws.App) -> None:
    async with running(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            # The first takes longest: answers must still come in request order.
            writer.write(get("/slow/0.2") + get("/slow/0") + get("/hello") + get("/nope") + get("/slow/0.01", "Connection: close"))
            bodies = []
            for _ in range(5):
                status, _, body = await read_response(reader)
                bodies.append((status, body))
            assert bodies[:3] == [(200, b"slept 0.2"), (200, b"slept 0"), (200, b"hello, world")]
            assert bodies[3][0] == 404
            assert bodies[4] == (200, b"slept 0.01")
            assert await wait_eof(reader, scaled(2)) == b""
        finally:
            writer.close()


async def test_a_burst_of_new_requests_is_answered_one_by_one(app: ws.App, caplog) -> None:
    # Requests that arrive together wait at the server's door and start a loop
    # iteration or two apart (so that the connections already open are not kept
    # waiting behind all of them): each is answered, a client that leaves while
    # its request waits is skipped, and the server is left holding nothing.
    async with running(app) as server:
        clients = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(30)]
        try:
            for i, (_, writer) in enumerate(clients):
                writer.write(get(f"/users/u{i}/posts/{i}"))
            clients[5][1].transport.abort()  # gone before its answer
            answers = {}
            for i, (reader, _) in enumerate(clients):
                if i != 5:
                    status, _, body = await read_response(reader)
                    answers[i] = (status, json.loads(body)["post"])
            assert answers == {i: (200, i) for i in range(30) if i != 5}
        finally:
            for _, writer in clients:
                writer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_http_1_0_closes(app: ws.App) -> None:
    async with running(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(get("/hello", version="1.0"))
            data = await wait_eof(reader, scaled(2))
        finally:
            writer.close()
    status, _, body = parse(data)
    assert status == 200 and body == b"hello, world"


async def test_connection_close_header_closes(app: ws.App) -> None:
    async with running(app) as server:
        status, headers, _ = parse(await raw_request(server, get("/hello", "Connection: close"), timeout=scaled(2)))
    assert status == 200 and headers["connection"].lower() == "close"


# -- bad requests and limits -------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /hello\r\n\r\n",
        b"GET /hello HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /hello HTTP/1.1\nHost: t\n\n",
        b"GET /hello HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        "GÉT /héllo HTTP/1.1\r\n\r\n".encode(),
        b"\xff\xfe\xfd\x80\x81 \xc3\xa9 \xe2\x82\xac\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello
    ],
)
async def test_malformed_request_400(app: ws.App, request_bytes: bytes) -> None:
    async with running(app) as server:
        status, headers, _ = parse(await raw_request(server, request_bytes, timeout=scaled(2)))
    assert status == 400
    assert headers["connection"].lower() == "close"


async def test_oversized_request_line_414(app: ws.App) -> None:
    async with running(app, limits=ws.ServerLimits(max_request_line=100)) as server:
        status, _, _ = parse(await raw_request(server, get("/" + "a" * 200), timeout=scaled(2)))
        assert status == 414
        # Refused before the line even ends.
        status, _, _ = parse(await raw_request(server, b"GET /" + b"a" * 500, timeout=scaled(2)))
        assert status == 414


async def test_too_many_headers_431(app: ws.App) -> None:
    extra = [f"X-{i}: {i}" for i in range(20)]
    async with running(app, limits=ws.ServerLimits(max_headers=10)) as server:
        status, _, _ = parse(await raw_request(server, get("/hello", *extra), timeout=scaled(2)))
        assert status == 431
        status, _, _ = parse(await raw_request(server, get("/hello", *extra[:5], "Connection: close"), timeout=scaled(2)))
        assert status == 200


async def test_oversized_header_431(app: ws.App) -> None:
    async with running(app, limits=ws.ServerLimits(max_header_size=100)) as server:
        status, _, _ = parse(await raw_request(server, get("/hello", "X-Big: " + "b" * 200), timeout=scaled(2)))
    assert status == 431


async def test_oversized_body_413(app: ws.App) -> None:
    request = b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"
    async with running(app, limits=ws.ServerLimits(max_body=100)) as server:
        status, _, _ = parse(await raw_request(server, request, timeout=scaled(2)))
    assert status == 413


async def test_silent_client_is_dropped_after_handshake_timeout(app: ws.App) -> None:
    async with running(app, limits=ws.ServerLimits(handshake_timeout=0.5)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        start = time.monotonic()
        try:
            data = await wait_eof(reader, scaled(2))
        finally:
            writer.close()
        assert 0.4 < time.monotonic() - start < 2
        assert data == b"" or parse(data)[0] == 408


async def test_trickling_client_is_dropped_after_handshake_timeout(app: ws.App) -> None:
    async with running(app, limits=ws.ServerLimits(handshake_timeout=0.5)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        start = time.monotonic()

        async def trickle() -> None:
            for byte in get("/hello", *[f"X-{i}: {'v' * 20}" for i in range(50)]):
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)  # the trickling client's pace: what is tested

        trickler = asyncio.create_task(trickle())
        try:
            data = await wait_eof(reader, scaled(2.5))
        finally:
            trickler.cancel()
            await asyncio.gather(trickler, return_exceptions=True)
            writer.close()
        assert time.monotonic() - start < 2.5
        assert data == b"" or parse(data)[0] == 408


async def test_idle_keep_alive_connection_is_closed(app: ws.App) -> None:
    async with running(app, limits=ws.ServerLimits(keepalive_timeout=0.3)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(get("/hello"))
            assert (await read_response(reader))[0] == 200
            assert await wait_eof(reader, scaled(2)) == b""
        finally:
            writer.close()


async def test_client_leaving_mid_request_leaks_nothing(app: ws.App) -> None:
    async with running(app) as server:
        for data, busy in ((b"GET /hel", "http_connections"), (get("/slow/5"), "tasks")):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(data)
            await writer.drain()
            # Leave once the server holds the connection (or runs the slow handler).
            await eventually(lambda busy=busy: server.statistics()[busy] == 1)
            writer.close()
        await settled(server, scaled(1))
        assert server.statistics() == {"http_connections": 0, "websockets": 0, "tasks": 0}


# -- WebSocket upgrade and shutdown ----------------------------------------------------


async def test_upgrade_then_echo(app: ws.App) -> None:
    async with running(app) as server:
        sock = await ws.connect(url(server, "/echo"))
        await sock.text("hi")
        assert await sock == "hi"
        assert len(server.websockets) == 1
        with pytest.raises(ws.Closed):
            await asyncio.wait_for(sock.close(), scaled(5))


async def test_plain_get_on_a_websocket_route(app: ws.App) -> None:
    async with running(app) as server:
        status, _, _ = parse(await raw_request(server, get("/echo", "Connection: close"), timeout=scaled(2)))
    assert status in (400, 426)


async def test_graceful_shutdown_closes_websockets_with_1001(app: ws.App) -> None:
    server = await ws.serve(app, "127.0.0.1", 0)
    address = url(server, "/echo")
    async with server:
        ours = await ws.connect(address)
        theirs = await websockets.asyncio.client.connect(url(server, "/echo"))
        await ours.text("ready")
        assert await ours == "ready"
        start = time.monotonic()
    assert time.monotonic() - start < 2
    with pytest.raises(ws.Closed) as info:
        await asyncio.wait_for(ours, scaled(2))
    assert info.value.code == 1001
    await asyncio.wait_for(theirs.wait_closed(), scaled(2))
    assert theirs.close_code == 1001
    assert server.statistics() == {"http_connections": 0, "websockets": 0, "tasks": 0}
    # The port no longer accepts connections.
    with pytest.raises(OSError):
        await ws.connect(address, open_timeout=scaled(2))


async def test_shutdown_cancels_stuck_handlers_within_the_bound() -> None:
    app = ws.App()
    cancelled = asyncio.Event()
    started = asyncio.Event()

    @app.route("/stuck")
    async def stuck(request):
        started.set()
        try:
            await asyncio.sleep(60)  # a handler that would never end: what shutdown must cancel
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await ws.serve(app, "127.0.0.1", 0, limits=ws.ServerLimits(shutdown_timeout=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(get("/stuck"))
        await writer.drain()
        await asyncio.wait_for(started.wait(), scaled(2))
        start = time.monotonic()
        await asyncio.wait_for(server.aclose(), scaled(3))
        assert time.monotonic() - start < 2
        assert cancelled.is_set()
        await wait_eof(reader, scaled(2))
    finally:
        writer.close()
    assert server.statistics() == {"http_connections": 0, "websockets": 0, "tasks": 0}


async def test_idle_http_connection_closed_at_shutdown(app: ws.App) -> None:
    server = await ws.serve(app, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(get("/hello"))
        assert (await read_response(reader))[0] == 200
        await asyncio.wait_for(server.aclose(), scaled(3))
        assert await wait_eof(reader, scaled(2)) == b""
    finally:
        writer.close()


# ---------------------------------------------------------------------- drain


def drain_app(finish: asyncio.Event, outcome: list[str]) -> ws.App:
    """A WebSocket whose work runs in a task spawned with drain=True: it sends
    "done" on *finish* and "cancelled" if shutdown cancels it first."""
    app = ws.App()

    @app.route("/game")
    @ws.endpoint
    async def game(request: ws.Request, sock: ws.WebSocket) -> None:
        async def work() -> None:
            try:
                await finish.wait()
                outcome.append("done")
                await sock.send("done")
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        await request.server.spawn(work(), drain=True)

    return app


async def test_close_lets_drained_work_finish_with_its_socket_open() -> None:
    finish, outcome = asyncio.Event(), []
    limits = ws.ServerLimits(drain_timeout=scaled(10))
    async with running(drain_app(finish, outcome), limits=limits) as server:
        async with websockets.asyncio.client.connect(url(server, "/game")) as client:
            await eventually(lambda: server.statistics()["websockets"] == 1)
            port = server.port
            server.close()
            assert server.closing
            # Listening stopped at once, but the game's socket is still open...
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", port)
            finish.set()
            # ...so the game that ends during the drain ends as usual: its last
            # message, then its handler's normal close (1000), not a 1001.
            assert await asyncio.wait_for(client.recv(), scaled(5)) == "done"
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), scaled(5))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
            await asyncio.wait_for(server.wait_closed(), scaled(5))
    assert outcome == ["done"]


async def test_drained_work_still_running_after_drain_timeout_is_cancelled() -> None:
    finish, outcome = asyncio.Event(), []
    async with running(drain_app(finish, outcome), limits=ws.ServerLimits(drain_timeout=0.2)) as server:
        async with websockets.asyncio.client.connect(url(server, "/game")) as client:
            await eventually(lambda: server.statistics()["websockets"] == 1)
            await asyncio.wait_for(server.aclose(), scaled(5))
            assert outcome == ["cancelled"]
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), scaled(5))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


async def test_work_spawned_without_drain_is_cancelled_at_once() -> None:
    app = ws.App()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with running(app, limits=ws.ServerLimits(drain_timeout=scaled(30))) as server:
        server.spawn(work())
        await asyncio.wait_for(started.wait(), scaled(1))
        server.close()
        # Cancelled by close() itself, not after the drain time.
        await asyncio.wait_for(cancelled.wait(), scaled(1))


async def test_a_failing_close_callback_neither_stops_the_others_nor_the_close(caplog) -> None:
    # ws.Closed is a CancelledError (a disconnect reaches game code as cancellation):
    # a callback that sends on a closed socket raises it, and that must not escape close().
    calls = []

    def sends_on_a_closed_socket(server: ws.Server) -> None:
        raise ws.Closed(code=1000)

    def fails(server: ws.Server) -> None:
        raise RuntimeError("a bug in a callback")

    async with running(ws.App()) as server:
        server.add_close_callback(sends_on_a_closed_socket)
        server.add_close_callback(fails)
        server.add_close_callback(calls.append)
        with caplog.at_level(logging.ERROR, logger="ws"):
            server.close()
        assert calls == [server]
        await asyncio.wait_for(server.wait_closed(), scaled(5))
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ws.Closed, RuntimeError]


async def test_close_callbacks_run_once_when_close_starts() -> None:
    calls = []
    async with running(ws.App()) as server:
        server.add_close_callback(calls.append)

        def removed(server: ws.Server) -> None:
            calls.append("removed")

        server.add_close_callback(removed)
        server.remove_close_callback(removed)
        server.remove_close_callback(removed)  # (twice: nothing happens)
        server.close()
        server.close()
        assert calls == [server]
    assert calls == [server]
