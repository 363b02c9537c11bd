"""``ws.upgrade``: the end of the opening handshake that server and client share."""

from __future__ import annotations

import asyncio

import pytest

import ws
from tests.support import running
from ws.frames import FrameParser, Opcode, serialize_frame
from ws.handshake import accept_key, make_key, request_headers
from ws.http11 import serialize_request
from ws.upgrade import options_from


def test_options_from_applies_limits_on_top() -> None:
    assert options_from(None, {}) == ws.Options()
    assert options_from(None, {"max_queue": 4}) == ws.Options(max_queue=4)
    mine = ws.Options(max_message_size=10, max_queue=8)
    assert options_from(mine, {}) is mine
    assert options_from(mine, {"max_queue": 2}) == ws.Options(max_message_size=10, max_queue=2)
    with pytest.raises(TypeError):
        options_from(None, {"no_such_limit": 1})


async def test_server_gets_frames_sent_with_the_upgrade_request(echo_app: ws.App) -> None:
    """A frame in the same write as the request reaches the WebSocket (the HTTP
    parser's leftover is handed over with the transport)."""
    key = make_key()
    request = serialize_request("GET", "/echo", request_headers("127.0.0.1", key))
    async with running(echo_app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(request + serialize_frame(Opcode.TEXT, b"early", mask=True))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 ")
            assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in head
            parser = FrameParser(expect_mask=False)
            frames: list = []
            async with asyncio.timeout(5):
                while not frames:
                    frames = parser.feed(await reader.read(65536))
            assert (frames[0].opcode, bytes(frames[0].payload)) == (Opcode.TEXT, b"early")
        finally:
            writer.close()
