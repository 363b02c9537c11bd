"""Every safety limit of ``ws`` over real sockets on 127.0.0.1: what a hostile or
broken peer runs into, and that the defaults are bounded.

Message and frame size (1009), handshake timeout (408 or a drop), keepalive
against a half-open peer, close timeout, the write buffer's high-water mark,
slow consumers in a broadcast (1013), connection caps (503 before the upgrade)
and the Origin policy (403).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

import ws
from tests.support import ZERO, close_payload, closed_by_server, eventually, frame, open_raw, read_close_code
from tests.support import read_eof, read_frame, read_head, running, scaled, settled, status_of
from tests.support import upgrade_request, url

MiB = 2**20


def app_with(handler, path: str = "/", **options) -> ws.App:
    app = ws.App()
    app.route(path)(ws.endpoint(**options)(handler))
    return app


async def echo_handler(request, sock):
    async for msg in sock:
        await sock.send(msg)


# ---------------------------------------------------------------------- defaults


def test_every_limit_has_a_bounded_default() -> None:
    options = ws.Options()
    assert options.max_message_size == MiB
    assert options.max_frame_size is None  # None here means "same as max_message_size"
    assert options.max_queue is not None and options.max_queue <= 64
    assert 0 < options.write_limit <= MiB
    assert options.ping_interval is not None and options.ping_interval <= 60
    assert options.ping_timeout is not None and options.ping_timeout <= 60
    assert options.close_timeout is not None and options.close_timeout <= 30
    limits = ws.ServerLimits()
    for name in (
        "handshake_timeout",
        "keepalive_timeout",
        "max_request_line",
        "max_header_size",
        "max_headers",
        "max_body",
        "max_connections",
        "max_connections_per_ip",
    ):
        assert getattr(limits, name) is not None, name
    assert limits.handshake_timeout <= 30 and limits.max_headers <= 256
    # The effective frame limit of a default connection is the message limit.
    conn = ws.protocol.Connection(ws.protocol.Side.SERVER, max_message_size=options.max_message_size, max_frame_size=None)
    assert conn.receive_data(frame(0x2, b"\0" * (MiB + 1))) == []
    assert isinstance(conn.failure, ws.PayloadTooBig)


# ---------------------------------------------------------------------- message and frame size


async def test_default_max_message_size_is_1_mib_and_over_it_is_1009() -> None:
    seen: list[BaseException] = []

    async def handler(request, sock):
        try:
            async for msg in sock:
                await sock.send(msg)
        except ws.Closed as exc:
            seen.append(exc)
            raise

    async with running(app_with(handler, compression=False)) as server:
        client = await ws.connect(url(server), compression=False, max_message_size=None)
        await client.data(b"\x01" * MiB)  # exactly at the limit: fine
        assert len(await asyncio.wait_for(client.recv(), scaled(5))) == MiB
        await client.text("x" * (MiB + 1))  # one byte over
        exc = await closed_by_server(client, scaled(5))
        assert exc.code == 1009
        await settled(server)
    assert len(seen) == 1 and seen[0].code == 1009


async def test_a_compressed_message_that_inflates_over_the_limit_is_1009() -> None:
    # A zip bomb: 4 MiB of zeros is a few kilobytes on the wire.
    async with running(app_with(echo_handler)) as server:
        client = await ws.connect(url(server), max_message_size=None)
        assert "permessage-deflate" in (client.extensions or "")
        wire = client._conn.send_data(b"\0" * (4 * MiB))
        assert len(wire) < 64 * 1024, len(wire)
        client.transport.write(wire)
        exc = await closed_by_server(client, scaled(5))
        assert exc.code == 1009
        await settled(server)


async def open_offering(server: ws.Server, compressed: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw client that offers permessage-deflate or not, and checks what was agreed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    offer = ["Sec-WebSocket-Extensions: permessage-deflate"] if compressed else []
    writer.write(upgrade_request("/", *offer))
    head = await read_head(reader)
    assert status_of(head) == 101, head
    assert (b"permessage-deflate" in head.lower()) is compressed, head
    return reader, writer


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])
async def test_uncompressed_frames_over_the_default_limit_are_1009(compressed: bool) -> None:
    # On a compressed connection the default frame limit leaves a compressed frame
    # some room over the message limit, so an uncompressed frame just over 1 MiB
    # passes the frame check and must be refused as a message (1009, not 1002).
    async with running(app_with(echo_handler)) as server:
        reader, writer = await open_offering(server, compressed)
        try:
            writer.write(frame(0x2, b"\x01" * MiB))  # exactly at the limit: echoed
            b0, _ = await read_frame(reader, scaled(5))
            assert b0 & 0x0F == 0x2 and bool(b0 & 0x40) is compressed
            writer.write(frame(0x1, b"x" * (MiB + 1)))  # one byte over, in one frame
            assert await read_close_code(reader, writer, scaled(5)) == 1009
        finally:
            writer.close()
        reader, writer = await open_offering(server, compressed)
        try:
            half = b"y" * (MiB // 2)
            writer.write(frame(0x2, half, fin=False) + frame(0x0, half, fin=False) + frame(0x0, b"y"))
            assert await read_close_code(reader, writer, scaled(5)) == 1009
        finally:
            writer.close()
        await settled(server)


async def test_max_frame_size_limits_one_frame_but_not_a_fragmented_message() -> None:
    app = app_with(echo_handler, compression=False, max_frame_size=1024, max_message_size=8192)
    async with running(app) as server:
        # Four frames of 1024 bytes make one 4096-byte message: within both limits.
        reader, writer = await open_raw(server, "/")
        try:
            parts = [bytes([i]) * 1024 for i in range(4)]
            writer.write(
                frame(0x2, parts[0], fin=False) + frame(0x0, parts[1], fin=False)
                + frame(0x0, parts[2], fin=False) + frame(0x0, parts[3])
            )
            b0, payload = await read_frame(reader)
            assert b0 == 0x82 and payload == b"".join(parts)
            # One frame of 1025 bytes: over the frame limit.
            writer.write(frame(0x2, b"x" * 1025))
            assert await read_close_code(reader, writer) == 1009
        finally:
            writer.close()
        # Nine fragments of 1024 bytes: each frame is fine, the message is not.
        reader, writer = await open_raw(server, "/")
        try:
            writer.write(b"".join(frame(0x2 if i == 0 else 0x0, b"y" * 1024, fin=False) for i in range(9)))
            assert await read_close_code(reader, writer) == 1009
        finally:
            writer.close()
        await settled(server)


# ---------------------------------------------------------------------- handshake timeout


async def test_handshake_timeout_drops_silent_and_one_byte_a_second_clients_together() -> None:
    # Five silent clients and five that send an upgrade request one byte a second,
    # all at once: all are dropped at the deadline, while a good client is served.
    timeout = 1.2
    request = upgrade_request("/")
    async with running(app_with(echo_handler), limits=ws.ServerLimits(handshake_timeout=timeout)) as server:

        async def slow(trickle: bool) -> tuple[bytes, float, int]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            started = time.monotonic()
            sent = 0

            async def drip() -> None:
                nonlocal sent
                for byte in request:
                    writer.write(bytes([byte]))
                    sent += 1
                    await asyncio.sleep(1.0)  # one byte a second: the slow client under test

            dripper = asyncio.create_task(drip()) if trickle else None
            try:
                response = await read_eof(reader, timeout=timeout + 2)
            finally:
                if dripper is not None:
                    dripper.cancel()
                    await asyncio.gather(dripper, return_exceptions=True)
                writer.close()
            return response, time.monotonic() - started, sent

        clients = [asyncio.create_task(slow(trickle=i % 2 == 1)) for i in range(10)]
        await eventually(lambda: server.statistics()["http_connections"] == 10)  # all ten are in
        good = await ws.connect(url(server), open_timeout=scaled(2))
        await good.text("hi")
        assert await asyncio.wait_for(good.recv(), scaled(2)) == "hi"
        results = await asyncio.gather(*clients)
        for response, elapsed, sent in results:
            assert timeout - 0.1 <= elapsed < timeout + 1.5
            assert status_of(response) in (None, 408), response
            assert sent <= 3
        assert server.statistics()["http_connections"] == 0
        good.close()
        await asyncio.wait_for(good.wait_closed(), scaled(3))
        await settled(server)


async def test_handshake_timeout_is_a_deadline_for_the_whole_request_not_per_byte() -> None:
    # A client sending a byte every 50 ms is never idle for long, and still dropped.
    async with running(app_with(echo_handler), limits=ws.ServerLimits(handshake_timeout=0.5)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = upgrade_request("/", *[f"X-Pad-{i}: {'p' * 30}" for i in range(20)])

        async def drip() -> None:
            for byte in request:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)  # a byte every 50 ms: the client under test

        dripper = asyncio.create_task(drip())
        started = time.monotonic()
        try:
            response = await read_eof(reader, timeout=scaled(3))
        finally:
            dripper.cancel()
            await asyncio.gather(dripper, return_exceptions=True)
            writer.close()
        assert time.monotonic() - started < 1.5
        assert status_of(response) in (None, 408)
        await settled(server)


# ---------------------------------------------------------------------- keepalive: half-open peers


@contextlib.asynccontextmanager
async def blackhole_proxy(target_port: int) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP proxy to *target_port*.  Once the event is set it silently drops every
    byte in both directions and never closes: a half-open peer (a pulled cable)."""
    cut = asyncio.Event()
    tasks: set[asyncio.Task] = set()
    writers: list[asyncio.StreamWriter] = []

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not cut.is_set():
                writer.write(data)

    async def on_client(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1", target_port)
        writers.extend([c_writer, s_writer])
        for t in (pump(c_reader, s_writer), pump(s_reader, c_writer)):
            task = asyncio.create_task(t)
            tasks.add(task)

    proxy = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield proxy.sockets[0].getsockname()[1], cut
    finally:
        proxy.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.transport.abort()
        await proxy.wait_closed()


async def test_keepalive_detects_a_half_open_peer_on_both_sides() -> None:
    server_saw = asyncio.get_running_loop().create_future()

    async def handler(request, sock):
        started = time.monotonic()
        try:
            async for msg in sock:
                await sock.send(msg)
        except ws.Closed as exc:
            server_saw.set_result((exc, time.monotonic() - started))
            raise

    app = app_with(handler, ping_interval=0.3, ping_timeout=0.3)
    async with running(app) as server:
        async with blackhole_proxy(server.port) as (port, cut):
            client = await ws.connect(f"ws://127.0.0.1:{port}/", ping_interval=0.3, ping_timeout=0.3)
            await asyncio.sleep(0.8)  # pings answered through the proxy: still connected
            await client.text("before")
            assert await asyncio.wait_for(client.recv(), scaled(2)) == "before"
            assert not client.closed and not server_saw.done()
            cut.set()  # the cable is pulled: no FIN, no RST, nothing
            cut_at = time.monotonic()
            exc = await closed_by_server(client, timeout=scaled(3))
            client_elapsed = time.monotonic() - cut_at
            server_exc, _ = await asyncio.wait_for(server_saw, scaled(3))
            server_elapsed = time.monotonic() - cut_at
        await settled(server)
    # Detected within one interval plus one timeout (plus scheduling slack).
    assert client_elapsed < 1.3 and server_elapsed < 1.3
    assert isinstance(server_exc, ws.Closed) and server_exc.code == 1006
    assert exc.code == 1006


# ---------------------------------------------------------------------- close timeout


@contextlib.asynccontextmanager
async def deaf_server(*, close_tcp_after_close_frame: bool = False) -> AsyncIterator[int]:
    """Accepts a WebSocket upgrade, then never answers a close frame (or answers it
    but never closes the TCP connection, with the flag)."""
    from ws.handshake import accept_key

    tasks: set[asyncio.Task] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
            )
            if close_tcp_after_close_frame:
                await reader.readexactly(2 + 4 + 2)  # the client's masked close frame
                writer.write(b"\x88\x02\x03\xe8")  # answered, and then the TCP connection stays
            await reader.read()  # wait for the client to go
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@pytest.mark.parametrize("peer", ["never answers", "answers but keeps tcp open"])
async def test_client_close_timeout_cuts_off_a_peer(peer: str) -> None:
    async with deaf_server(close_tcp_after_close_frame=peer != "never answers") as port:
        client = await ws.connect(f"ws://127.0.0.1:{port}/", close_timeout=0.4, compression=False)
        started = time.monotonic()
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(client.close(1000), scaled(3))
        elapsed = time.monotonic() - started
        assert client.transport.is_closing()
    assert 0.3 <= elapsed < 1.5
    # RFC 6455 7.1.5: without the peer's close frame the code is 1006.
    assert info.value.code == (1006 if peer == "never answers" else 1000)


async def test_server_close_timeout_bounds_a_handler_whose_peer_went_silent() -> None:
    # The handler returns (the endpoint closes with 1000); the peer never answers and
    # keeps the TCP connection: the server still lets go after close_timeout.
    async def handler(request, sock):
        await sock

    async with running(app_with(handler, close_timeout=0.4)) as server:
        reader, writer = await open_raw(server, "/")
        try:
            writer.write(frame(0x1, b"one message, then silence"))
            started = time.monotonic()
            b0, payload = await read_frame(reader)
            assert b0 == 0x88 and payload[:2] == close_payload(1000)
            await read_eof(reader)
            assert 0.3 <= time.monotonic() - started < 1.5
        finally:
            writer.close()
        await settled(server)


# ---------------------------------------------------------------------- write buffer


async def test_a_client_that_does_not_read_cannot_make_the_server_buffer_without_bound() -> None:
    write_limit = 64 * 1024
    chunk = b"\xaa" * (32 * 1024)
    progress = {"sent": 0, "max_buffer": 0}

    async def handler(request, sock):
        while True:
            await sock.data(chunk)
            progress["sent"] += 1
            progress["max_buffer"] = max(progress["max_buffer"], sock.transport.get_write_buffer_size())

    async with running(app_with(handler, compression=False, write_limit=write_limit)) as server:
        reader, writer = await open_raw(server, "/")  # and never reads
        try:
            # The kernel's socket buffers absorb some megabytes; then the handler parks.
            # Parked means no progress for 0.3 s: buffers draining into the kernel
            # let it go on for a while, and no event says they are full.
            async with asyncio.timeout(scaled(5)):
                while True:
                    before = progress["sent"]
                    await asyncio.sleep(0.3)  # sampling: no progress for 0.3 s is the stall looked for
                    if progress["sent"] == before:
                        break
            stalled_at = progress["sent"]
            await asyncio.sleep(0.5)  # what is tested: for 0.5 s more, with nobody reading, no send completes
            assert progress["sent"] == stalled_at, "the sender kept going while nobody read"
            (sock,) = server.websockets
            buffered = sock.transport.get_write_buffer_size()
            # One frame beyond the high-water mark at most: the frame written at call time.
            assert buffered <= write_limit + len(chunk) + 16
            assert progress["max_buffer"] <= write_limit + len(chunk) + 16
            # Reading again lets the sender go on.
            received = 0
            async with asyncio.timeout(scaled(5)):
                while progress["sent"] <= stalled_at + 10:
                    received += len(await reader.read(1 << 20))
            assert received > 0
        finally:
            writer.transport.abort()
        await settled(server)


async def test_broadcast_drops_a_slow_consumer_with_1013_instead_of_slowing_everyone() -> None:
    socks: list[ws.WebSocket] = []
    ready = asyncio.Event()

    async def handler(request, sock):
        socks.append(sock)
        if len(socks) == 4:
            ready.set()
        await sock.wait_closed()

    message = b"\x55" * (64 * 1024)
    rounds = 200  # 12.5 MiB per client: far beyond what the kernel buffers for the slow one
    max_buffer = 256 * 1024
    async with running(app_with(handler, compression=False)) as server:
        fast = [await ws.connect(url(server), compression=False) for _ in range(3)]
        slow_reader, slow_writer = await open_raw(server, "/")  # never reads until the end
        await asyncio.wait_for(ready.wait(), scaled(3))
        slow_sock = socks[3]
        received = [0, 0, 0]

        async def read_all(i: int) -> None:
            while received[i] < rounds:
                msg = await fast[i]
                assert msg == message
                received[i] += 1

        readers = [asyncio.create_task(read_all(i)) for i in range(3)]
        counts = []
        started = time.monotonic()
        for _ in range(rounds):
            counts.append(ws.broadcast(socks, message, max_buffer=max_buffer))
            await asyncio.sleep(0)  # let the fast readers run
        await asyncio.wait_for(asyncio.gather(*readers), scaled(10))
        elapsed = time.monotonic() - started
        assert received == [rounds] * 3, "a fast client missed messages"
        assert counts[0] == 4 and counts[-1] == 3, counts[:3] + counts[-3:]
        assert slow_sock.close_code == 1013
        assert slow_sock.transport is None or slow_sock.transport.get_write_buffer_size() <= max_buffer + 2 * len(message)
        # The slow client, once it reads, finds what was sent before the drop, then 1013.
        try:
            assert await read_close_code(slow_reader, slow_writer, timeout=scaled(5)) == 1013
        finally:
            slow_writer.close()
        for client in fast:
            client.close()
            await asyncio.wait_for(client.wait_closed(), scaled(3))
        await settled(server)
    assert elapsed < 8


# ---------------------------------------------------------------------- connection caps


async def raw_status(server: ws.Server, *, local_host: str | None = None) -> tuple[int | None, bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, local_addr=(local_host, 0) if local_host else None
    )
    writer.write(upgrade_request("/"))
    head = await read_head(reader)
    return status_of(head), head, writer


async def test_max_connections_answers_503_before_the_upgrade() -> None:
    limits = ws.ServerLimits(max_connections=3, max_connections_per_ip=None)
    async with running(app_with(echo_handler), limits=limits) as server:
        clients = [await ws.connect(url(server)) for _ in range(2)]
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)  # an HTTP connection counts
        try:
            status, head, writer = await raw_status(server)
            writer.close()
            assert status == 503 and b"Retry-After:" in head, head
            assert b"Upgrade: websocket" not in head
            with pytest.raises(ws.InvalidHandshake) as info:
                await ws.connect(url(server))
            assert info.value.status == 503
            # A slot frees up: the next client gets in.
            idle_writer.close()
            # The slot is free once the server has let go of every HTTP connection
            # (the idle one and those it refused).
            await eventually(lambda: server.statistics()["http_connections"] == 0)
            clients.append(await ws.connect(url(server)))
            await clients[-1].text("in")
            assert await asyncio.wait_for(clients[-1].recv(), scaled(2)) == "in"
        finally:
            idle_writer.close()
            for client in clients:
                client.close()
                await asyncio.wait_for(client.wait_closed(), scaled(3))
        await settled(server)
        # Every slot was given back.
        again = [await ws.connect(url(server)) for _ in range(3)]
        for client in again:
            client.close()
            await asyncio.wait_for(client.wait_closed(), scaled(3))
        await settled(server)


async def test_max_connections_per_ip_answers_503_to_that_ip_only() -> None:
    limits = ws.ServerLimits(max_connections=100, max_connections_per_ip=2)
    async with running(app_with(echo_handler), limits=limits) as server:
        first = [await open_raw(server, "/", local_host="127.0.0.1") for _ in range(2)]
        try:
            status, _, writer = await raw_status(server, local_host="127.0.0.1")
            writer.close()
            assert status == 503
            # Another address (Linux routes all of 127/8 to loopback) is not limited.
            other = await open_raw(server, "/", local_host="127.0.0.2")
            other[1].write(frame(0x1, b"hi"))
            b0, payload = await read_frame(other[0])
            assert payload == b"hi"
            other[1].transport.abort()
            # After a drop, 127.0.0.1 gets a slot back.
            first[0][1].transport.abort()
            await eventually(lambda: server.statistics()["websockets"] == 1)  # the server saw both drops
            first[0] = await open_raw(server, "/", local_host="127.0.0.1")
        finally:
            for _, writer in first:
                writer.transport.abort()
        await settled(server)


# ---------------------------------------------------------------------- origin policy

ORIGINS = ["https://game.example", "http://localhost:8000"]


@pytest.mark.parametrize(
    ("origin_headers", "allowed", "expected"),
    [
        (["Origin: https://game.example"], ORIGINS, 101),
        (["Origin: http://localhost:8000"], ORIGINS, 101),
        (["Origin: https://evil.example"], ORIGINS, 403),
        (["Origin: https://game.example.evil.example"], ORIGINS, 403),
        (["Origin: http://game.example"], ORIGINS, 403),  # another scheme is another origin
        (["Origin: null"], ORIGINS, 403),
        ([], ORIGINS, 403),  # no Origin: not a browser, refused unless None is allowed
        ([], [*ORIGINS, None], 101),
        (["Origin: https://evil.example"], [*ORIGINS, None], 403),
        (["Origin: https://game.example", "Origin: https://evil.example"], ORIGINS, 400),
        (["Origin: https://anything.example"], None, 101),  # None: no policy
    ],
)
async def test_origin_policy(origin_headers: list[str], allowed, expected: int) -> None:
    app = app_with(echo_handler, "/game", origins=allowed)
    async with running(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(upgrade_request("/game", *origin_headers))
            head = await read_head(reader)
            assert status_of(head) == expected, head
            if expected == 101:
                writer.write(frame(0x8, close_payload(1000)))
                assert await read_close_code(reader) == 1000
        finally:
            writer.close()
        assert await settled(server) == ZERO


async def test_write_limit_none_never_pauses_the_sender():
    """write_limit=None disables the high-water mark, like every other limit's None."""
    parked = []

    app = ws.App()

    @app.route("/flood")
    @ws.endpoint(write_limit=None, compression=False)
    async def flood(request, sock):
        for _ in range(256):
            await sock.data(b"x" * 65536)  # 16 MiB, more than the kernel's buffers hold
        parked.append(sock.transport.get_write_buffer_size())
        await sock

    async with running(app) as server:
        client = await ws.connect(url(server, "/flood"), compression=False)
        client.transport.pause_reading()
        await eventually(lambda: parked, scaled(2))
        # The sender never waited: it buffered far past the default 64 KiB mark.
        assert parked and parked[0] > 2**20
        client.transport.resume_reading()
        client.abort()
