"""The ``ws.MessageSocket`` contract, run against every implementation.

Each case gets a ``pair``: ``pair.sock`` is the socket under test, on the
server's side as game code sees it, and ``pair.peer`` a real ``ws.connect``
client at the other end.  The implementations:

- ``websocket``: a :class:`ws.WebSocket` over a loopback TCP connection;
- ``bridged``: the rooms cluster's socket for a player connected to another
  node (two servers, two ``RedisBackend`` nodes, one real redis-server): the
  peer's bytes go through the edge node and Redis to the host;
- ``asgi``: a :class:`ws.ASGISocket`, the app served by ``ws.asgi`` under a
  real uvicorn (in this process, its default WebSocket implementation) on a
  loopback port.  There uvicorn, not we, answers pings and writes the frames:
  ``ping()`` sends nothing (the peer's read in the ordering case never sees a
  pong either way) and a fragmented send arrives as one message, as it does
  here from a ``WebSocket`` too.  (Under hypercorn three cases would fail, the
  ones that read the code of a close the peer started: hypercorn reports 1006
  for every such close; docs/howto.md says so.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

import rooms
import ws
from tests.rooms.redis_fixtures import REDIS, RedisServer
from tests.support import TIMEOUT, eventually, running, url
from tests.support.asgi import uvicorn_running


@attrs.define
class Pair:
    """The socket under test and the client at its other end."""

    sock: Any
    peer: ws.WebSocket
    kind: str


@contextlib.asynccontextmanager
async def websocket_pair() -> AsyncIterator[Pair]:
    handed: asyncio.Future[ws.WebSocket] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()
    app = ws.App()

    @app.route("/s")
    @ws.endpoint
    async def handler(request, sock):
        handed.set_result(sock)
        await release.wait()

    async with running(app) as server:
        peer = await ws.connect(url(server, "/s"))
        try:
            sock = await asyncio.wait_for(handed, TIMEOUT)
            yield Pair(sock, peer, "websocket")
        finally:
            release.set()
            peer.abort()
            await peer.wait_closed()


@contextlib.asynccontextmanager
async def asgi_pair() -> AsyncIterator[Pair]:
    handed: asyncio.Future[ws.ASGISocket] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()
    app = ws.App()

    @app.route("/s")
    @ws.endpoint
    async def handler(request, sock):
        handed.set_result(sock)
        await release.wait()

    served = ws.asgi(app)
    async with uvicorn_running(served) as server:
        peer = await ws.connect(url(server, "/s"))
        try:
            sock = await asyncio.wait_for(handed, TIMEOUT)
            yield Pair(sock, peer, "asgi")
        finally:
            release.set()
            peer.abort()
            await peer.wait_closed()
    assert served.server is not None and served.server.statistics() == {"http_connections": 0, "websockets": 0, "tasks": 0}


@contextlib.asynccontextmanager
async def bridged_pair(tmp_path) -> AsyncIterator[Pair]:
    if REDIS is None:
        pytest.skip("redis-server is not installed (make test installs it through scripts/system-deps.sh)")
    redis = RedisServer(tmp_path)
    redis.start()
    handed: asyncio.Future[rooms.Room] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()

    async def game(room):
        handed.set_result(room)
        await release.wait()

    try:
        async with contextlib.AsyncExitStack() as stack:
            servers = []
            for name in ("edge", "host"):
                backend = rooms.RedisBackend(redis.url, prefix="c:", node_id=name, heartbeat=0.2, node_ttl=1.0, secret="s" * 16)
                app = ws.App()
                app.route("/game")(rooms.Lobby(2, game, backend=backend, name="contract"))
                server = await stack.enter_async_context(running(app))
                await backend.start(server)
                servers.append(server)
            # The second player completes the group, so the room runs on their node
            # (the host) and the first player is bridged from the edge.
            peer = await ws.connect(url(servers[0], "/game?name=remote"))
            await _until_type(peer, "lobby")
            local = await ws.connect(url(servers[1], "/game?name=local"))
            stack.push_async_callback(_abort, local)
            stack.push_async_callback(_abort, peer)
            stack.callback(release.set)
            room = await asyncio.wait_for(handed, TIMEOUT)
            await _until_type(peer, "matched")
            await _until_type(local, "matched")
            (remote,) = [p for p in room.players if not isinstance(p.sock, ws.WebSocket)]
            assert remote.name == "remote"
            yield Pair(remote.sock, peer, "bridged")
    finally:
        redis.stop()


async def _until_type(sock: ws.WebSocket, kind: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        async for msg in sock:
            if rooms.decode(msg).get("type") == kind:
                return


async def _abort(sock: ws.WebSocket) -> None:
    sock.abort()
    await sock.wait_closed()


@pytest.fixture(params=["websocket", "bridged", "asgi"])
async def pair(request, tmp_path) -> AsyncIterator[Pair]:
    factories = {"websocket": websocket_pair, "bridged": lambda: bridged_pair(tmp_path), "asgi": asgi_pair}
    async with factories[request.param]() as p:
        yield p


async def recv(sock: Any) -> ws.Message:
    async with asyncio.timeout(TIMEOUT):
        return await sock


# ---------------------------------------------------------------------- the cases


async def test_is_a_message_socket(pair):
    assert isinstance(pair.sock, ws.MessageSocket)
    assert not pair.sock.closed and pair.sock.close_code is None


async def test_await_gives_text_and_data(pair):
    pair.peer.text("hello")
    pair.peer.data(b"\x00\xff")
    first = await recv(pair.sock)
    assert first == "hello" and first.is_text
    second = await recv(pair.sock)
    assert second == b"\x00\xff" and second.is_data


async def test_await_reads_messages_already_queued(pair):
    # The messages arrive before anyone reads: the read finds them queued.
    for i in range(5):
        pair.peer.text(str(i))
    await _until_queued(pair.sock, 5)
    assert [str(await recv(pair.sock)) for _ in range(5)] == ["0", "1", "2", "3", "4"]


async def test_flow_control_keeps_every_message_in_order(pair):
    # More than max_queue (32) unread messages: reading pauses, then resumes.
    count = 200
    for i in range(count):
        pair.peer.text(str(i))
    await _until_queued(pair.sock, 32)
    assert [int(await recv(pair.sock)) for _ in range(count)] == list(range(count))


async def test_async_for_ends_with_closed_naming_the_socket(pair):
    for word in ("a", "b", "c"):
        pair.peer.text(word)
    pair.peer.close(1000, "done")
    got = []
    with pytest.raises(ws.Closed) as info:
        async with asyncio.timeout(TIMEOUT):
            async for msg in pair.sock:
                got.append(str(msg))
    assert got == ["a", "b", "c"]
    assert info.value.code == 1000 and info.value.socket is pair.sock
    assert pair.sock.closed and pair.sock.close_code == 1000


async def test_mux_reads_and_names_the_socket_that_left(pair):
    pair.peer.text("via mux")
    m = ws.mux(pair.sock)
    sock, msg = await asyncio.wait_for(m, TIMEOUT)
    assert sock is pair.sock and msg == "via mux"
    assert pair.sock.listener is m
    pair.peer.close(1001, "")
    with pytest.raises(ws.Closed) as info:
        await asyncio.wait_for(m, TIMEOUT)
    assert info.value.socket is pair.sock and info.value.code == 1001


async def test_a_plain_await_takes_the_socket_back_from_its_mux(pair):
    m = ws.mux(pair.sock)
    pair.peer.text("one")
    pair.peer.text("two")
    await _until_queued(pair.sock, 2)
    assert await recv(pair.sock) == "one"
    assert pair.sock.listener is None and pair.sock not in m.socks
    assert await recv(pair.sock) == "two"


async def test_broadcast_reaches_the_peer_and_skips_closed_sockets(pair):
    assert ws.broadcast([pair.sock], "to all") == 1
    assert await recv(pair.peer) == "to all"
    assert ws.broadcast([pair.sock], b"\x01") == 1
    assert await recv(pair.peer) == b"\x01"
    pair.sock.close(1000, "")
    assert ws.broadcast([pair.sock], "late") == 0  # closing: skipped


async def test_sends_reach_the_peer_in_order(pair):
    await pair.sock.text("t")
    await pair.sock.data(b"d")
    await pair.sock.send("s")
    await pair.sock.text(["fr", "ag"])
    await pair.sock.ping()
    assert [await recv(pair.peer) for _ in range(4)] == ["t", b"d", "s", "frag"]


async def test_close_from_our_side(pair):
    calls = []
    pair.sock.add_close_callback(calls.append)
    with pytest.raises(ws.Closed) as info:
        await asyncio.wait_for(pair.sock.close(4000, "bye"), TIMEOUT)
    assert info.value.code == 4000 and info.value.reason == "bye"
    assert pair.sock.closed and pair.sock.close_code == 4000 and pair.sock.close_reason == "bye"
    assert pair.sock.disconnected and calls == [pair.sock]
    with pytest.raises(ws.Closed):
        await asyncio.wait_for(pair.peer, TIMEOUT)
    assert pair.peer.close_code == 4000 and pair.peer.close_reason == "bye"
    with pytest.raises(ws.Closed):
        pair.sock.text("after close")


async def test_close_from_the_peer(pair):
    calls = []
    pair.sock.add_close_callback(calls.append)
    pair.peer.close(4100, "leaving")
    await asyncio.wait_for(pair.sock.wait_closed(), TIMEOUT)
    assert calls == [pair.sock]
    with pytest.raises(ws.Closed) as info:
        await recv(pair.sock)
    assert info.value.code == 4100 and info.value.reason == "leaving"
    # A callback added after the end is still called, once, soon.
    late = asyncio.get_running_loop().create_future()
    pair.sock.add_close_callback(late.set_result)
    assert await asyncio.wait_for(late, TIMEOUT) is pair.sock


async def test_a_lost_connection_is_1006(pair):
    removed = []
    pair.sock.add_close_callback(removed.append)
    pair.sock.remove_close_callback(removed.append)
    pair.peer.abort()
    with pytest.raises(ws.Closed) as info:
        await recv(pair.sock)
    assert info.value.code == 1006 and info.value.socket is pair.sock
    assert removed == []


async def test_one_reader_at_a_time(pair):
    first = asyncio.ensure_future(recv(pair.sock))
    await asyncio.sleep(0)  # one turn of the loop: the first read starts waiting (no duration involved)
    with pytest.raises(RuntimeError):
        await recv(pair.sock)
    pair.peer.text("x")
    assert await asyncio.wait_for(first, TIMEOUT) == "x"


async def _until_queued(sock: Any, n: int) -> None:
    await eventually(lambda: sock.queued >= n, timeout=TIMEOUT)
