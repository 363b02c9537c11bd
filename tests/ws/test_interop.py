"""Interop with real peers: our server with the `websockets` and `aiohttp` clients,
and our client with `websockets` and `aiohttp` servers.  All on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import aiohttp.web
import pytest
import websockets.asyncio.client
import websockets.asyncio.server
import websockets.exceptions

import ws
from tests.support import TIMEOUT, close_quietly, eventually, running, scaled, url

# -- one adapter per client library -------------------------------------------------


class Peer:
    """A client connection from another library, behind one small interface."""

    can_fragment = True

    async def send(self, message: str | bytes) -> None: ...
    async def send_fragments(self, pieces: list[str] | list[bytes]) -> None: ...
    async def recv(self) -> str | bytes: ...
    async def ping(self, payload: bytes) -> bytes: ...  # the pong's payload
    async def close(self, code: int, reason: str) -> None: ...
    async def closed(self) -> tuple[int, str]: ...  # after the server closed
    def compressed(self) -> bool: ...
    async def aclose(self) -> None: ...


class WebsocketsPeer(Peer):
    @classmethod
    async def open(cls, address: str, *, compression: bool) -> WebsocketsPeer:
        peer = cls()
        peer.conn = await websockets.asyncio.client.connect(
            address, compression="deflate" if compression else None, max_size=None, proxy=None, open_timeout=TIMEOUT
        )
        return peer

    async def send(self, message):
        await self.conn.send(message)

    async def send_fragments(self, pieces):
        await self.conn.send(pieces)  # an iterable is sent as one fragmented message

    async def recv(self):
        return await asyncio.wait_for(self.conn.recv(), TIMEOUT)

    async def ping(self, payload):
        waiter = await self.conn.ping(payload)
        await asyncio.wait_for(waiter, TIMEOUT)
        return payload  # websockets matches the pong's payload to the ping's

    async def close(self, code, reason):
        await asyncio.wait_for(self.conn.close(code, reason), TIMEOUT)

    async def closed(self):
        await asyncio.wait_for(self.conn.wait_closed(), TIMEOUT)
        return self.conn.close_code, self.conn.close_reason

    def compressed(self):
        return any(ext.name == "permessage-deflate" for ext in self.conn.protocol.extensions)

    async def aclose(self):
        await self.conn.close()


class AiohttpPeer(Peer):
    can_fragment = False

    @classmethod
    async def open(cls, address: str, *, compression: bool) -> AiohttpPeer:
        peer = cls()
        peer.session = aiohttp.ClientSession()
        try:
            peer.conn = await peer.session.ws_connect(address, compress=15 if compression else 0, autoping=False, max_msg_size=0)
        except BaseException:
            await peer.session.close()
            raise
        return peer

    async def send(self, message):
        if isinstance(message, str):
            await self.conn.send_str(message)
        else:
            await self.conn.send_bytes(message)

    async def recv(self):
        while True:
            msg = await asyncio.wait_for(self.conn.receive(), TIMEOUT)
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return msg.data
            if msg.type is aiohttp.WSMsgType.PONG:
                return ("pong", msg.data)
            raise AssertionError(f"unexpected {msg!r}")

    async def ping(self, payload):
        await self.conn.ping(payload)
        kind, data = await self.recv()
        assert kind == "pong"
        return data

    async def close(self, code, reason):
        await asyncio.wait_for(self.conn.close(code=code, message=reason.encode()), TIMEOUT)

    async def closed(self):
        msg = await asyncio.wait_for(self.conn.receive(), TIMEOUT)
        assert msg.type is aiohttp.WSMsgType.CLOSE, msg
        return msg.data, msg.extra

    def compressed(self):
        return bool(self.conn.compress)

    async def aclose(self):
        try:
            await self.conn.close()
        finally:
            await self.session.close()


PEERS = {"websockets": WebsocketsPeer, "aiohttp": AiohttpPeer}


@pytest.fixture(params=list(PEERS))
def peer_type(request) -> type[Peer]:
    return PEERS[request.param]


@pytest.fixture
def closes() -> list[asyncio.Future]:
    """One future per /watch connection: how the server handler saw it close."""
    return []


@pytest.fixture
def app(closes: list[asyncio.Future]) -> ws.App:
    app = ws.App()

    @app.route("/echo")
    @ws.endpoint(max_message_size=2**21)
    async def echo(request, sock):
        async for msg in sock:
            await sock.send(msg)

    @app.route("/extensions")
    @ws.endpoint
    async def extensions(request, sock):
        await sock.text(str(sock.extensions))
        async for msg in sock:
            await sock.send(msg)

    @app.route("/watch")
    @ws.endpoint
    async def watch(request, sock):
        seen = asyncio.get_running_loop().create_future()
        closes.append(seen)
        try:
            async for msg in sock:
                await sock.send(msg)
        except ws.Closed as exc:
            seen.set_result((exc.code, exc.reason, exc.message.code if exc.message is not None else None))
            raise

    @app.route("/server-closes")
    @ws.endpoint
    async def server_closes(request, sock):
        await sock.text("bye soon")
        await sock.close(4002, "x")

    return app


@contextlib.asynccontextmanager
async def peer_at(peer_type: type[Peer], address: str, *, compression: bool = True) -> AsyncIterator[Peer]:
    peer = await peer_type.open(address, compression=compression)
    try:
        yield peer
    finally:
        await peer.aclose()


# -- our server, their clients --------------------------------------------------------


@pytest.mark.parametrize("compression", [False, True])
async def test_text_and_binary(app: ws.App, peer_type: type[Peer], compression: bool) -> None:
    async with running(app) as server, peer_at(peer_type, url(server, "/echo"), compression=compression) as peer:
        for message in ["hello", "", "ünïcödé €𝄞", "x" * 1000, b"\x00\xff" * 3, b"", b"y" * 70000]:
            await peer.send(message)
            got = await peer.recv()
            assert got == message and type(got) is type(message)


async def test_fragmented_message(app: ws.App, peer_type: type[Peer]) -> None:
    if not peer_type.can_fragment:
        pytest.skip("aiohttp's client cannot send a fragmented message")
    async with running(app) as server, peer_at(peer_type, url(server, "/echo")) as peer:
        await peer.send_fragments(["frag", "men", "ted €"])
        assert await peer.recv() == "fragmented €"
        await peer.send_fragments([b"a" * 100, b"b" * 100])
        assert await peer.recv() == b"a" * 100 + b"b" * 100


async def test_ping_pong(app: ws.App, peer_type: type[Peer]) -> None:
    async with running(app) as server, peer_at(peer_type, url(server, "/echo")) as peer:
        assert await peer.ping(b"are you there?") == b"are you there?"
        await peer.send("still works")
        assert await peer.recv() == "still works"


async def test_client_closes_with_4001(app: ws.App, closes: list, peer_type: type[Peer]) -> None:
    async with running(app) as server, peer_at(peer_type, url(server, "/watch")) as peer:
        await peer.send("hi")
        assert await peer.recv() == "hi"
        await peer.close(4001, "done here")
        code, reason, received = await asyncio.wait_for(closes[0], TIMEOUT)
        assert (code, reason, received) == (4001, "done here", 4001)


async def test_server_closes_with_4002(app: ws.App, peer_type: type[Peer]) -> None:
    async with running(app) as server, peer_at(peer_type, url(server, "/server-closes")) as peer:
        assert await peer.recv() == "bye soon"
        assert await peer.closed() == (4002, "x")


@pytest.mark.parametrize("compression", [False, True])
async def test_one_mebibyte_binary(app: ws.App, peer_type: type[Peer], compression: bool) -> None:
    payload = bytes(range(256)) * 4096
    assert len(payload) == 2**20
    async with running(app) as server, peer_at(peer_type, url(server, "/echo"), compression=compression) as peer:
        await peer.send(payload)
        assert await peer.recv() == payload


async def test_permessage_deflate_negotiated(app: ws.App, peer_type: type[Peer]) -> None:
    async with running(app) as server, peer_at(peer_type, url(server, "/extensions")) as peer:
        extensions = await peer.recv()
        assert extensions.startswith("permessage-deflate")
        assert peer.compressed()
        # Messages over the compression threshold, compressible, and several in a
        # row (the context is kept between messages).
        for i in range(5):
            message = f"a compressible line number {i} " * 100
            await peer.send(message)
            assert await peer.recv() == message
            await peer.send(message.encode())
            assert await peer.recv() == message.encode()
    async with running(app) as server, peer_at(peer_type, url(server, "/extensions"), compression=False) as peer:
        assert await peer.recv() == "None"
        assert not peer.compressed()


# -- our client, their servers ---------------------------------------------------------


@contextlib.asynccontextmanager
async def websockets_server() -> AsyncIterator[tuple[str, list]]:
    closes: list = []

    async def handler(conn) -> None:
        if conn.request.path == "/server-closes":
            await conn.send("bye soon")
            await conn.close(4002, "x")
            return
        if conn.request.path == "/extensions":
            await conn.send(", ".join(ext.name for ext in conn.protocol.extensions) or "None")
        try:
            async for msg in conn:
                await conn.send(msg)
        except websockets.exceptions.ConnectionClosed:
            pass  # raised for close codes other than 1000 and 1001
        closes.append((conn.close_code, conn.close_reason))

    async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0, max_size=None) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", closes


@contextlib.asynccontextmanager
async def aiohttp_server() -> AsyncIterator[tuple[str, list]]:
    closes: list = []

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
        conn = aiohttp.web.WebSocketResponse(compress=True, max_msg_size=0)
        await conn.prepare(request)
        if request.path == "/server-closes":
            await conn.send_str("bye soon")
            await conn.close(code=4002, message=b"x")
            return conn
        if request.path == "/extensions":
            await conn.send_str("permessage-deflate" if conn.compress else "None")
        async for msg in conn:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await conn.send_str(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await conn.send_bytes(msg.data)
        closes.append((conn.close_code, None))
        return conn

    web_app = aiohttp.web.Application()
    web_app.router.add_get("/{tail:.*}", handler)
    runner = aiohttp.web.AppRunner(web_app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}", closes
    finally:
        await runner.cleanup()


SERVERS = {"websockets": websockets_server, "aiohttp": aiohttp_server}


@pytest.fixture(params=list(SERVERS))
def their_server(request):
    return SERVERS[request.param]


@pytest.mark.parametrize("compression", [False, True])
async def test_our_client_text_and_binary(their_server, compression: bool) -> None:
    async with their_server() as (base, _):
        sock = await ws.connect(base + "/echo", compression=compression)
        for message in ["hello", "", "ünïcödé €𝄞", "z" * 5000, b"\x00\xff", b"", bytes(range(256)) * 4096]:
            await sock.send(message)
            got = await asyncio.wait_for(sock, TIMEOUT)
            assert got == message and isinstance(got, type(message))
        await close_quietly(sock)


async def test_our_client_fragmented(their_server) -> None:
    async with their_server() as (base, _):
        sock = await ws.connect(base + "/echo")
        await sock.text(["frag", "men", "ted"])
        assert await asyncio.wait_for(sock, TIMEOUT) == "fragmented"
        await sock.data([b"x" * 300, b"y" * 300])
        assert await asyncio.wait_for(sock, TIMEOUT) == b"x" * 300 + b"y" * 300
        await close_quietly(sock)


async def test_our_client_closes_with_4001(their_server) -> None:
    async with their_server() as (base, closes):
        sock = await ws.connect(base + "/echo")
        await sock.text("hi")
        assert await asyncio.wait_for(sock, TIMEOUT) == "hi"
        await close_quietly(sock, 4001, "done here")
        assert sock.close_code == 4001
        await eventually(lambda: closes, scaled(1))
        assert closes and closes[0][0] == 4001
        if closes[0][1] is not None:
            assert closes[0][1] == "done here"


async def test_our_client_sees_server_close_4002(their_server) -> None:
    async with their_server() as (base, _):
        sock = await ws.connect(base + "/server-closes")
        assert await asyncio.wait_for(sock, TIMEOUT) == "bye soon"
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(sock, TIMEOUT)
        assert (info.value.code, info.value.reason) == (4002, "x")
        assert info.value.message.code == 4002
        await asyncio.wait_for(sock.wait_closed(), TIMEOUT)


async def test_our_client_compression(their_server) -> None:
    async with their_server() as (base, _):
        sock = await ws.connect(base + "/extensions")
        assert await asyncio.wait_for(sock, TIMEOUT) == "permessage-deflate"
        assert sock.extensions is not None and sock.extensions.startswith("permessage-deflate")
        for i in range(5):
            message = f"compress me, round {i}; " * 200
            await sock.text(message)
            assert await asyncio.wait_for(sock, TIMEOUT) == message
        await close_quietly(sock)
        sock = await ws.connect(base + "/extensions", compression=False)
        assert await asyncio.wait_for(sock, TIMEOUT) == "None"
        assert sock.extensions is None
        await close_quietly(sock)


async def test_our_client_ping(their_server) -> None:
    async with their_server() as (base, _):
        sock = await ws.connect(base + "/echo", receive_pongs=True)
        await sock.ping(b"hello?")
        pong = await asyncio.wait_for(sock, TIMEOUT)
        assert pong.is_pong and pong == b"hello?"
        await close_quietly(sock)
