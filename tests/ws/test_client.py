"""Tests for ws.client: ``connect(url)`` and ``client(path, reader, writer)`` over real sockets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import websockets.asyncio.server

import ws
from tests.support import close_quietly, running, scaled, url
from ws.frames import FrameParser, Opcode, parse_close, serialize_close, serialize_frame
from ws.handshake import accept_key


@contextlib.asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """A plain TCP server on 127.0.0.1 running *handle* per connection; yields its port."""
    tasks: set[asyncio.Task] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())
        try:
            await handle(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read a request head; return its header fields (lower-case names) and the request line."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
    lines = head.decode("latin-1").split("\r\n")
    fields = {"request-line": lines[0]}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    return fields


def switching(key: str, *extra: str) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept_key(key)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextlib.asynccontextmanager
async def websockets_echo(**kwargs) -> AsyncIterator[str]:
    """A `websockets` echo server; yields its ws:// URL.  Records close codes it sees."""

    async def echo(conn) -> None:
        async for msg in conn:
            await conn.send(msg)

    async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


# -- against our own server -------------------------------------------------------------


async def test_connect_to_our_server(echo_app: ws.App) -> None:
    async with running(echo_app) as server:
        sock = await ws.connect(url(server, "/echo"))
        await sock.text("hello")
        assert await sock == "hello"
        await sock.data(b"\x00\x01")
        msg = await sock
        assert msg == b"\x00\x01" and msg.is_data
        await close_quietly(sock)
        assert sock.close_code == 1000


async def test_connect_path_and_query_reach_the_handler() -> None:
    app = ws.App()

    @app.route("/room/{name}")
    @ws.endpoint
    async def room(request, sock, name):
        await sock.text(f"{name}?{request.query.get('q')}")
        await sock

    async with running(app) as server:
        sock = await ws.connect(url(server, "/room/lobby?q=1"))
        assert await sock == "lobby?1"
        await close_quietly(sock)


async def test_client_over_open_streams(echo_app: ws.App) -> None:
    async with running(echo_app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        sock = await ws.client("/echo", reader, writer)
        for i in range(3):
            await sock.text(f"msg {i}")
            assert await sock == f"msg {i}"
        await close_quietly(sock)


async def test_client_gets_frames_sent_right_after_the_101() -> None:
    """Bytes that arrive with the 101 (in the StreamReader's buffer) are not lost."""

    async def handle(reader, writer):
        fields = await read_head(reader)
        writer.write(switching(fields["sec-websocket-key"]) + serialize_frame(Opcode.TEXT, b"early"))
        await writer.drain()
        await reader.read()

    async with raw_server(handle) as port:
        for use_streams in (False, True):
            if use_streams:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                sock = await ws.client("/", reader, writer)
            else:
                sock = await ws.connect(f"ws://127.0.0.1:{port}/")
            assert await asyncio.wait_for(sock, scaled(5)) == "early"
            sock.abort()


@pytest.mark.parametrize(
    "bad",
    ["http://127.0.0.1/", "127.0.0.1:80", "ws://", "ws:///path", "wss//host", "ws://user:pw@127.0.0.1/", "ftp://x/"],
)
async def test_bad_urls(bad: str) -> None:
    with pytest.raises(ws.InvalidURI):
        await ws.connect(bad)


async def test_404_is_an_invalid_handshake_with_status(echo_app: ws.App) -> None:
    async with running(echo_app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await ws.connect(url(server, "/nowhere"))
        assert info.value.status == 404


async def test_403_for_a_refused_origin() -> None:
    app = ws.App()

    @app.route("/")
    @ws.endpoint(origins=["https://good.example"])
    async def handler(request, sock):
        await sock.text("welcome")

    async with running(app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await ws.connect(url(server), origin="https://evil.example")
        assert info.value.status == 403
        sock = await ws.connect(url(server), origin="https://good.example")
        assert await sock == "welcome"
        with pytest.raises(ws.Closed):
            await asyncio.wait_for(sock, scaled(5))


async def test_plain_http_route_is_not_a_websocket() -> None:
    app = ws.App()

    async def just_text(request: ws.Request) -> str:
        return "just text"

    app.add_route("/", just_text)
    async with running(app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await ws.connect(url(server))
        assert info.value.status == 200


@pytest.mark.parametrize(
    "response",
    [
        "wrong-accept",
        "no-upgrade",
        "unoffered-subprotocol",
        "garbage",
        "close-early",
    ],
)
async def test_bad_handshake_responses(response: str) -> None:
    async def handle(reader, writer):
        fields = await read_head(reader)
        key = fields["sec-websocket-key"]
        if response == "wrong-accept":
            data = switching(base64.b64encode(b"0123456789abcdef").decode())
        elif response == "no-upgrade":
            data = switching(key).replace(b"Upgrade: websocket\r\n", b"")
        elif response == "unoffered-subprotocol":
            data = switching(key, "Sec-WebSocket-Protocol: chat")
        elif response == "garbage":
            data = b"\xff\xfe not http at all\r\n\r\n"
        else:
            data = b"HTTP/1.1 101 Switching"
        writer.write(data)
        await writer.drain()

    async with raw_server(handle) as port:
        with pytest.raises(ws.InvalidHandshake) as info:
            await asyncio.wait_for(ws.connect(f"ws://127.0.0.1:{port}/", subprotocols=["other"]), scaled(5))
        assert info.value.status == 0 or response == "garbage"


async def test_open_timeout_against_a_silent_server() -> None:
    async def handle(reader, writer):
        await reader.read()  # silent: reads the request, never answers, until the client goes

    async with raw_server(handle) as port:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await ws.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
        assert time.monotonic() - start < 2


async def test_connection_refused() -> None:
    async def ignore(reader, writer):
        pass

    async with raw_server(ignore) as port:
        pass  # the port is free again
    with pytest.raises(OSError):
        await ws.connect(f"ws://127.0.0.1:{port}/", open_timeout=scaled(5))


# -- subprotocols ------------------------------------------------------------------------


async def test_subprotocol_negotiation_with_our_server() -> None:
    app = ws.App()

    @app.route("/")
    @ws.endpoint(subprotocols=["chess.v2", "chess.v1"])
    async def handler(request, sock):
        await sock.text(str(sock.subprotocol))
        await sock

    async with running(app) as server:
        # The server's preference wins among what the client offers.
        sock = await ws.connect(url(server), subprotocols=["chess.v1", "chess.v2"])
        assert sock.subprotocol == "chess.v2" and await sock == "chess.v2"
        await close_quietly(sock)
        sock = await ws.connect(url(server), subprotocols=["chess.v1"])
        assert sock.subprotocol == "chess.v1" and await sock == "chess.v1"
        await close_quietly(sock)
        # No overlap: the connection opens without a subprotocol.
        sock = await ws.connect(url(server), subprotocols=["go"])
        assert sock.subprotocol is None and await sock == "None"
        await close_quietly(sock)
        sock = await ws.connect(url(server))
        assert sock.subprotocol is None and await sock == "None"
        await close_quietly(sock)


async def test_subprotocol_negotiation_with_websockets_server() -> None:
    async def handler(conn) -> None:
        await conn.send(str(conn.subprotocol))
        await conn.wait_closed()

    async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0, subprotocols=["b", "a"]) as server:
        port = server.sockets[0].getsockname()[1]
        sock = await ws.connect(f"ws://127.0.0.1:{port}/", subprotocols=["a", "b"])
        assert sock.subprotocol in ("a", "b")
        assert await sock == sock.subprotocol
        await close_quietly(sock)


# -- against a websockets server -------------------------------------------------------


async def test_connect_to_websockets_server() -> None:
    async with websockets_echo() as address:
        sock = await ws.connect(address)
        await sock.text("hello")
        assert await sock == "hello"
        await sock.data(b"x" * 70000)
        assert await sock == b"x" * 70000
        await sock.text(["frag", "mented"])
        assert await sock == "fragmented"
        await close_quietly(sock, 4000, "bye")
        assert sock.close_code == 4000


# -- what goes on the wire ------------------------------------------------------------


async def test_our_client_masks_its_frames() -> None:
    seen: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        fields = await read_head(reader)
        assert fields["request-line"] == "GET /masked HTTP/1.1"
        writer.write(switching(fields["sec-websocket-key"]))
        await writer.drain()
        data = b""
        parser = FrameParser(expect_mask=True)  # refuses any unmasked frame
        frames = []
        while len(frames) < 4:
            chunk = await asyncio.wait_for(reader.read(65536), scaled(5))
            assert chunk
            data += chunk
            frames += parser.feed(chunk)
        seen.set_result((data, frames))
        writer.write(serialize_frame(Opcode.CLOSE, serialize_close(1000)))
        await writer.drain()

    payload = "a payload that would be visible if it were not masked"
    async with raw_server(handle) as port:
        sock = await ws.connect(f"ws://127.0.0.1:{port}/masked", compression=False)
        await sock.text(payload)
        await sock.data(payload.encode())
        await sock.ping(b"ping!")
        sock.close(1000)
        data, frames = await asyncio.wait_for(seen, scaled(5))
        assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.CLOSE]
        assert frames[0].payload == payload.encode() and frames[1].payload == payload.encode()
        assert parse_close(frames[3].payload) == (1000, "")
        assert payload.encode() not in data
        await asyncio.wait_for(sock.wait_closed(), scaled(5))


async def test_handshake_request_is_well_formed() -> None:
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        got.set_result(await read_head(reader))

    async with raw_server(handle) as port:
        with pytest.raises(ws.InvalidHandshake):
            await ws.connect(f"ws://127.0.0.1:{port}/p?x=1", subprotocols=["a", "b"], origin="https://o.example", extra_headers=[("X-Test", "1")])
        fields = got.result()
    assert fields["request-line"] == "GET /p?x=1 HTTP/1.1"
    assert fields["host"] == f"127.0.0.1:{port}"
    assert fields["upgrade"].lower() == "websocket"
    assert "upgrade" in fields["connection"].lower()
    assert fields["sec-websocket-version"] == "13"
    assert len(base64.b64decode(fields["sec-websocket-key"])) == 16
    assert fields["sec-websocket-protocol"] == "a, b"
    assert fields["origin"] == "https://o.example"
    assert fields["x-test"] == "1"
    assert "permessage-deflate" in fields["sec-websocket-extensions"]


async def test_server_closing_first_reaches_the_client() -> None:
    async def handle(reader, writer):
        fields = await read_head(reader)
        writer.write(switching(fields["sec-websocket-key"]) + serialize_frame(Opcode.CLOSE, serialize_close(4002, "x")))
        await writer.drain()
        # Expect the client's masked close reply, then close TCP (the server's job).
        reply = FrameParser(expect_mask=True).feed(await asyncio.wait_for(reader.read(100), scaled(5)))
        assert parse_close(reply[0].payload)[0] == 4002

    async with raw_server(handle) as port:
        sock = await ws.connect(f"ws://127.0.0.1:{port}/")
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(sock, scaled(5))
        assert (info.value.code, info.value.reason) == (4002, "x")
        await asyncio.wait_for(sock.wait_closed(), scaled(5))


async def test_a_connect_cancelled_at_any_point_leaves_no_unretrieved_exception() -> None:
    """Cancelled while the TCP connection opens or the handshake runs (a load
    test ending, a timeout around it): no "Future exception was never retrieved"."""
    import gc

    from tests.support import echo_app

    errors: list[str] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(str(context.get("message"))))
    try:
        async with running(echo_app()) as server:
            for turns in range(12):
                for _ in range(5):
                    task = asyncio.create_task(ws.connect(url(server, "/echo")))
                    for _ in range(turns):
                        await asyncio.sleep(0)
                    task.cancel()
                    try:
                        sock = await task
                    except asyncio.CancelledError:
                        continue
                    await close_quietly(sock, 1000)
            await asyncio.sleep(0.1)  # a while for a late "exception never retrieved": what the test looks for
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert errors == []
