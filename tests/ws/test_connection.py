"""The asyncio ``WebSocket`` over real sockets on 127.0.0.1: messages, closing,
sending, backpressure and keepalive, as server-side game code sees them."""

from __future__ import annotations

import asyncio
import base64
import gc
import importlib.util
import os
import time
import warnings

import pytest
import websockets.asyncio.client

import ws
from tests.support import close_client, closed_by_server, endpoint_app, eventually, raised, returned, running, scaled, url

# ---------------------------------------------------------------------- helpers


async def raw_upgrade(server, path="/"):
    """A TCP client that performs the opening handshake by hand, then does nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(3))
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


async def read_frame(reader, timeout=scaled(3.0)) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    async with asyncio.timeout(timeout):
        b0, b1 = await reader.readexactly(2)
        assert b1 & 0x80 == 0, "server frames are never masked"
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        return b0 & 0x0F, await reader.readexactly(length)


async def read_eof(reader, timeout=scaled(3.0)) -> None:
    """Wait until the server drops the TCP connection (FIN or RST)."""
    try:
        async with asyncio.timeout(timeout):
            assert await reader.read() == b""
    except ConnectionResetError:
        pass


# ---------------------------------------------------------------------- messages


async def test_text_message_is_a_str():
    async def body(sock):
        return await sock

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        client.text("héllo ♟")
        msg = await returned(outcome)
        await closed_by_server(client)
    assert type(msg) is ws.TextMessage
    assert isinstance(msg, str) and msg == "héllo ♟"
    assert msg.is_text
    assert not (msg.is_data or msg.is_ping or msg.is_pong or msg.is_close)


async def test_binary_message_is_bytes():
    async def body(sock):
        return await sock

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        client.data(b"\x00\xffdata")
        msg = await returned(outcome)
        await closed_by_server(client)
    assert type(msg) is ws.DataMessage
    assert isinstance(msg, bytes) and msg == b"\x00\xffdata"
    assert msg.is_data
    assert not (msg.is_text or msg.is_ping or msg.is_pong or msg.is_close)


async def echo_large_messages(compression: bool) -> None:
    """Messages of 16 KiB and more skip the copy behind their header where the
    transport allows (writelines), and from 256 KiB on go as two writes where it does
    not: both peers still read each one whole, in order with smaller ones."""
    big_text = "♟ large " * 60_000  # 600,000 characters, 660,000 bytes
    big_data = os.urandom(300_000)
    medium = os.urandom(20_000)

    async def body(sock):
        async for msg in sock:
            await sock.send(msg)

    app, _ = endpoint_app(body, compression=compression, max_message_size=2**21)
    messages = [big_text, "small", big_data, b"tiny", medium, "m" * 20_000, big_text]
    async with running(app) as server:
        client = await ws.connect(url(server), compression=compression, max_message_size=2**21)
        for message in messages:
            await client.send(message)
        echoed = [await asyncio.wait_for(client.recv(), scaled(5)) for _ in messages]
        await close_client(client)
    assert echoed == messages
    assert [type(m) for m in echoed] == [ws.TextMessage if isinstance(m, str) else ws.DataMessage for m in messages]


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
async def test_large_messages_echo_intact_both_ways(compression):
    await echo_large_messages(compression)


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed")
def test_large_messages_echo_intact_on_uvloop():
    """uvloop's transports take header and payload as two pieces (writelines)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(echo_large_messages(False))


async def test_async_for_yields_messages_then_raises_closed():
    seen = []

    async def body(sock):
        async for msg in sock:
            seen.append(msg)

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        for i in range(5):
            client.text(f"m{i}")
        client.data(b"last")
        await close_client(client)
        exc = await raised(outcome)
    # A disconnect ends `async for` with Closed, never a silent StopAsyncIteration.
    assert type(exc) is ws.Closed and exc.code == 1000
    assert seen == ["m0", "m1", "m2", "m3", "m4", b"last"]
    assert [type(m) for m in seen] == [ws.TextMessage] * 5 + [ws.DataMessage]


async def test_ping_from_peer_is_answered_automatically():
    async def body(sock):
        return await sock

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        async with websockets.asyncio.client.connect(url(server), ping_interval=None) as client:
            pong_waiter = await client.ping(b"are you there")
            latency = await asyncio.wait_for(pong_waiter, scaled(2))
            assert latency >= 0
            await client.send("after")
            # The ping never reached the handler: its first message is the text.
            assert await returned(outcome) == "after"


async def _ping_then_read_two(receive_pongs):
    async def body(sock):
        sock.ping(b"p1")
        sock.text("go")  # sent after the ping: once the client has it, its pong is on the way
        first = await sock
        second = await sock if first.is_pong else None
        return first, second

    app, outcome = endpoint_app(body, receive_pongs=receive_pongs)
    async with running(app) as server:
        client = await ws.connect(url(server))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "go"
        client.text("after")
        result = await returned(outcome)
        await closed_by_server(client)
    return result


async def test_pongs_are_not_delivered_by_default():
    first, second = await _ping_then_read_two(receive_pongs=False)
    assert first == "after" and first.is_text
    assert second is None


async def test_pongs_are_delivered_with_receive_pongs():
    first, second = await _ping_then_read_two(receive_pongs=True)
    assert type(first) is ws.PongMessage
    assert first.is_pong and first == b"p1" and isinstance(first, bytes)
    assert not (first.is_text or first.is_data or first.is_ping or first.is_close)
    assert second == "after"


# ---------------------------------------------------------------------- Closed


def test_closed_is_a_cancelled_error():
    assert issubclass(ws.Closed, asyncio.CancelledError)
    assert issubclass(ws.Closed, BaseException) and not issubclass(ws.Closed, Exception)


async def test_peer_close_reaches_handler_with_code_and_reason():
    holder = {}

    async def body(sock):
        holder["sock"] = sock
        await sock

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(client.close(4000, "bye"), scaled(3))
        exc = await raised(outcome)
    assert type(exc) is ws.Closed
    assert exc.code == 4000 and exc.reason == "bye"
    assert exc.socket is holder["sock"]
    message = exc.args[0]
    assert message is exc.message
    assert isinstance(message, ws.CloseMessage) and message.is_close
    assert message.code == 4000 and message.reason == "bye"
    # The client, which closed first, sees its own code; nothing was received before.
    assert info.value.code == 4000


async def test_abrupt_tcp_drop_is_1006_without_close_message():
    async def body(sock):
        await sock

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        client.abort()
        exc = await raised(outcome)
    assert type(exc) is ws.Closed
    assert exc.code == 1006
    assert exc.args[0] is None and exc.message is None


async def test_messages_queued_before_close_are_delivered_first():
    go = asyncio.Event()
    seen = []

    async def body(sock):
        await go.wait()  # read only once the connection is fully closed
        assert sock.closed
        while True:
            seen.append(await sock)

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        client.text("a")
        client.data(b"b")
        client.text("c")
        await close_client(client, 4000, "done")
        go.set()
        exc = await raised(outcome)
    assert seen == ["a", b"b", "c"]
    assert type(exc) is ws.Closed and exc.code == 4000 and exc.reason == "done"


# ---------------------------------------------------------------------- sending


async def test_send_without_await_sends_and_never_warns():
    # Control: this way of looking does catch a coroutine that is never awaited.
    async def forgotten():
        pass

    with warnings.catch_warnings(record=True) as control:
        warnings.simplefilter("always")
        forgotten()
        gc.collect()
    assert any(issubclass(w.category, RuntimeWarning) and "never awaited" in str(w.message) for w in control)

    async def body(sock):
        sock.text("fire")
        sock.data(b"and forget")
        sock.send("via send")
        sock.ping(b"x")
        sock.pong(b"y")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app, outcome = endpoint_app(body)
        async with running(app) as server:
            client = await ws.connect(url(server), receive_pongs=True)
            got = [await asyncio.wait_for(client.recv(), scaled(2)) for _ in range(4)]
            exc = await closed_by_server(client)
            await returned(outcome)
        gc.collect()
    assert got == ["fire", b"and forget", "via send", b"y"]
    assert got[3].is_pong
    assert exc.code == 1000
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []


async def test_await_send_waits_while_peer_does_not_read():
    blocked = asyncio.get_running_loop().create_future()

    async def body(sock):
        chunk = os.urandom(1 << 16)
        for count in range(1, 4000):
            pending = sock.data(chunk)
            if sock.transport.get_write_buffer_size() > sock.options.write_limit:
                break
        else:
            raise AssertionError("the write buffer never filled up")
        blocked.set_result(count)
        started = time.monotonic()
        await pending
        return count, time.monotonic() - started

    app, outcome = endpoint_app(body, compression=False, write_limit=1 << 16)
    async with running(app) as server:
        client = await ws.connect(url(server), compression=False)
        client.transport.pause_reading()  # the peer stops reading
        count = await asyncio.wait_for(blocked, scaled(5))
        await asyncio.sleep(0.3)  # what is tested: for 0.3 s, with the peer not reading, the send does not return
        assert not outcome.done(), "await sock.data() returned while the peer was not reading"
        client.transport.resume_reading()
        for _ in range(count):
            msg = await asyncio.wait_for(client.recv(), scaled(3))
            assert len(msg) == 1 << 16
        sent, waited = await returned(outcome)
        assert sent == count
        assert waited >= 0.25
        await closed_by_server(client)


async def test_sending_on_a_closed_socket_raises_closed():
    async def body(sock):
        try:
            await sock
        except ws.Closed:
            pass
        errors = []
        for send in (lambda: sock.text("x"), lambda: sock.data(b"x"), lambda: sock.ping(), lambda: sock.pong()):
            try:
                send()
            except ws.Closed as exc:
                errors.append(exc)
        closing = sock.close()  # closing again is not an error at call time...
        try:
            await closing  # ...and awaiting it raises Closed, as always
        except ws.Closed as exc:
            errors.append(exc)
        return errors

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        await close_client(client, 4000)
        errors = await returned(outcome)
    assert len(errors) == 5
    assert all(type(e) is ws.Closed and e.code == 4000 for e in errors)


# ---------------------------------------------------------------------- close


async def test_awaited_close_sends_frame_and_raises_closed_in_caller():
    async def body(sock):
        started = time.monotonic()
        try:
            await sock.close(4001, "game over")
        except ws.Closed as exc:
            return exc, time.monotonic() - started, sock.closed
        raise AssertionError("await sock.close() returned")

    app, outcome = endpoint_app(body, close_timeout=5)
    async with running(app) as server:
        client = await ws.connect(url(server))
        peer_exc = await closed_by_server(client)
        exc, elapsed, closed = await returned(outcome)
    assert peer_exc.code == 4001 and peer_exc.reason == "game over"
    assert peer_exc.message is not None and peer_exc.message.code == 4001
    assert type(exc) is ws.Closed and exc.code == 4001 and exc.reason == "game over"
    assert closed
    assert elapsed < 2, "the closing handshake waited for close_timeout although the peer answered"


async def test_close_without_await_still_closes():
    async def body(sock):
        sock.close(4002, "not awaited")
        await sock  # the closing handshake finishes; then this raises

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        peer_exc = await closed_by_server(client)
        exc = await raised(outcome)
    assert peer_exc.code == 4002 and peer_exc.reason == "not awaited"
    assert type(exc) is ws.Closed and exc.code == 4002


async def test_peer_that_never_answers_close_is_cut_off_after_close_timeout():
    async def body(sock):
        started = time.monotonic()
        try:
            await sock.close(4003, "bye")
        except ws.Closed as exc:
            return exc, time.monotonic() - started
        raise AssertionError("await sock.close() returned")

    app, outcome = endpoint_app(body, close_timeout=0.5)
    async with running(app) as server:
        reader, writer = await raw_upgrade(server)
        try:
            opcode, payload = await read_frame(reader)
            assert opcode == 0x8
            assert payload == (4003).to_bytes(2, "big") + b"bye"
            await read_eof(reader)  # and we never answer
            exc, elapsed = await returned(outcome)
        finally:
            writer.close()
    assert 0.4 <= elapsed < 2
    # RFC 6455 7.1.5: no Close frame was received, so the close code is 1006.
    assert type(exc) is ws.Closed and exc.code == 1006 and exc.message is None


# ---------------------------------------------------------------------- keepalive


async def test_keepalive_cuts_off_peer_that_ignores_pings():
    async def body(sock):
        started = time.monotonic()
        try:
            await sock
        except ws.Closed as exc:
            return exc, time.monotonic() - started
        raise AssertionError("got a message")

    app, outcome = endpoint_app(body, ping_interval=0.2, ping_timeout=0.2)
    async with running(app) as server:
        reader, writer = await raw_upgrade(server)
        try:
            exc, elapsed = await returned(outcome, timeout=scaled(2))
            opcode, payload = await read_frame(reader)
            assert opcode == 0x9 and len(payload) > 0  # the keepalive ping, left unanswered
            opcode, payload = await read_frame(reader)
            assert opcode == 0x8 and payload[:2] == (1011).to_bytes(2, "big")
            await read_eof(reader)
        finally:
            writer.close()
    assert elapsed < 1.2
    assert type(exc) is ws.Closed and exc.code == 1006


async def test_keepalive_keeps_well_behaved_peer_connected():
    async def body(sock):
        msg = await sock
        await sock.text(msg.upper())
        return sock.closed

    app, outcome = endpoint_app(body, ping_interval=0.1, ping_timeout=0.1)
    async with running(app) as server:
        async with websockets.asyncio.client.connect(url(server), ping_interval=None) as client:
            await asyncio.sleep(0.6)  # six ping intervals, each answered by websockets
            await client.send("still here")
            assert await asyncio.wait_for(client.recv(), scaled(2)) == "STILL HERE"
            assert await returned(outcome) is False


# ---------------------------------------------------------------------- flow control


async def test_max_queue_pauses_reading_until_the_handler_reads():
    got_sock = asyncio.get_running_loop().create_future()
    go = asyncio.Event()
    n = 50

    async def body(sock):
        got_sock.set_result(sock)
        await go.wait()
        seen = [await sock for _ in range(n)]
        return seen, sock.transport.is_reading()

    app, outcome = endpoint_app(body, max_queue=4)
    async with running(app) as server:
        client = await ws.connect(url(server))
        sock = await asyncio.wait_for(got_sock, scaled(2))
        assert sock.transport.is_reading()
        for i in range(n):
            client.text(f"m{i}")
        await eventually(lambda: not sock.transport.is_reading(), scaled(2), interval=0.01)
        await asyncio.sleep(0.1)  # what is tested: for 0.1 s, with nobody reading, reading stays paused
        assert not sock.transport.is_reading(), "reading resumed while nobody read"
        go.set()
        seen, reading = await returned(outcome)
        await closed_by_server(client)
    assert seen == [f"m{i}" for i in range(n)]
    assert reading, "reading did not resume after the handler drained the queue"


# ---------------------------------------------------------------------- broadcast


async def test_broadcast_writes_nothing_to_a_socket_that_is_closing():
    # Once our close frame is out, no data frame may follow it (RFC 6455 5.5.1),
    # though the connection stays up until the peer answers: broadcast must skip
    # a closing socket, not only one whose connection is gone.
    socks: list[ws.WebSocket] = []
    release = asyncio.Event()

    async def body(sock):
        socks.append(sock)
        await release.wait()

    app, _ = endpoint_app(body, compression=False)
    async with running(app) as server:
        peers = []
        for count in (1, 2):
            peers.append(await raw_upgrade(server))
            await eventually(lambda count=count: len(socks) == count)
        (closing_reader, closing_writer), (open_reader, _) = peers
        closing, still_open = socks
        try:
            closing.close(4000, "bye")  # the raw peer does not answer yet: closing, not gone
            assert closing.closed and not closing.disconnected
            assert ws.broadcast([closing, still_open], "to all") == 1
            assert await read_frame(open_reader) == (0x1, b"to all")
            assert await read_frame(closing_reader) == (0x8, (4000).to_bytes(2, "big") + b"bye")
            closing_writer.write(b"\x88\x82" + bytes(4) + (4000).to_bytes(2, "big"))  # our close, masked with zeros
            assert await asyncio.wait_for(closing_reader.read(), scaled(3)) == b""  # nothing after the close frame
        finally:
            release.set()
            for _, writer in peers:
                writer.close()
