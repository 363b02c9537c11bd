"""The server's close path after a protocol failure, against a client that keeps
writing: the client must read the close code, not a reset.

A server that closes the TCP connection while unread input is in its socket
makes the kernel answer with an RST, and the client then loses the close frame
it had not read yet (1006 instead of 1009).  After a failure close the server
stops processing input but reads and discards it until the peer closes (or
``close_timeout`` passes), having shut its own sending side down.
"""

from __future__ import annotations

import asyncio
import importlib.util
import struct

import pytest

import ws
from tests.support import running, scaled, settled
from tests.support.raw import frame, open_raw, read_frame

MiB = 2**20
HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def _loop_factories():
    yield pytest.param(asyncio.new_event_loop, id="asyncio")
    if HAS_UVLOOP:
        import uvloop

        yield pytest.param(uvloop.new_event_loop, id="uvloop")
    else:  # pragma: no cover - make test installs uvloop (the bench extra)
        yield pytest.param(None, id="uvloop", marks=pytest.mark.skip(reason="uvloop is not installed"))


LOOPS = list(_loop_factories())


def too_big() -> bytes:
    """The header of a 4 MiB binary frame, its payload, and 4 MiB more: over a 1 MiB limit."""
    return frame(0x2, b"\x01" * (4 * MiB)) + frame(0x2, b"\x02" * (4 * MiB))


def bad_opcode() -> bytes:
    """A reserved opcode (RFC 6455 5.2), then megabytes of well-formed frames."""
    return frame(0x3, b"?") + frame(0x2, b"\x03" * (8 * MiB))


def bad_utf8() -> bytes:
    """A text frame that is not UTF-8 (RFC 6455 8.1), then megabytes more."""
    return frame(0x1, b"\xff\xfe") + frame(0x2, b"\x04" * (8 * MiB))


CASES = [pytest.param(too_big, 1009, id="1009"), pytest.param(bad_opcode, 1002, id="1002"), pytest.param(bad_utf8, 1007, id="1007")]


async def echo(request, sock):
    async for msg in sock:
        await sock.send(msg)


async def one_client(server: ws.Server, payload: bytes) -> tuple[int, bytes]:
    """Write *payload* in full without reading (as a client sending one big message
    does), then read: the close frame's code, and what came after it until EOF.
    A reset on either side raises ConnectionResetError and fails the test."""
    reader, writer = await open_raw(server, "/")
    try:
        for start in range(0, len(payload), 256 * 1024):
            writer.write(payload[start : start + 256 * 1024])
            await asyncio.wait_for(writer.drain(), scaled(5))
        b0, body = await read_frame(reader, timeout=scaled(5))
        assert b0 == 0x88, f"expected a close frame, got {b0:#x}"
        async with asyncio.timeout(scaled(5)):
            rest = await reader.read()  # the server's FIN: b"" once everything is read
        return struct.unpack("!H", body[:2])[0], rest
    finally:
        writer.close()


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize(("payload", "code"), CASES)
def test_a_failure_close_reaches_a_client_that_keeps_writing(loop_factory, payload, code):
    async def main():
        app = ws.App()
        app.route("/")(ws.endpoint(compression=False, max_message_size=MiB)(echo))
        async with running(app) as server:
            for _ in range(5):
                got, rest = await one_client(server, payload())
                assert got == code
                assert rest == b""  # nothing after the close frame but the end
            await settled(server, timeout=scaled(5))

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_peer_that_never_stops_writing_is_cut_off_at_close_timeout(loop_factory):
    """Discarding is bounded: a client that writes on and on is aborted after close_timeout."""

    async def main():
        app = ws.App()
        app.route("/")(ws.endpoint(compression=False, max_message_size=1024, close_timeout=0.5)(echo))
        async with running(app) as server:
            reader, writer = await open_raw(server, "/")
            writer.write(frame(0x2, b"x" * 2048))
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                async with asyncio.timeout(scaled(10)):
                    while True:  # bounded by the timeout above; the server cuts it off first
                        writer.write(frame(0x2, b"y" * 65536))
                        await writer.drain()
            assert loop.time() - started >= 0.4
            writer.close()
            await settled(server, timeout=scaled(5))

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
