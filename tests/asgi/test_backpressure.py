"""Backpressure under uvicorn, with each of its WebSocket implementations.

What uvicorn does (0.3x, read in its source): ``send`` waits while its
transport holds more than the high-water mark (asyncio's 64 KiB), and after
each message received it stops reading the TCP connection until the
application has taken what is queued.  An ``ASGISocket`` adds its own bounds
on top: its queue of sends waits for uvicorn, and the awaitable a send returns
waits while more than ``write_limit`` bytes are queued; reading stops at
``max_queue`` unread messages.  So a client that does not read (or one that
floods) makes nobody buffer without bound: every buffer below stays at its
limit while the peer stalls, and everything arrives, in order, once it moves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

import ws
from tests.support import TIMEOUT, eventually, url
from tests.support.asgi import uvicorn_running

pytest.importorskip("uvicorn")

IMPLEMENTATIONS = ["websockets-sansio", "wsproto", pytest.param("websockets", marks=[pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")])]
CHUNK = 64 * 1024
KERNEL = 32 * 2**20  # loopback socket buffers, both ends, more than generous


async def stalled(count: Callable[[], int], quiet: float = 0.5) -> int:
    """Wait until *count()* has not changed for *quiet* seconds; return it."""
    deadline = time.monotonic() + TIMEOUT
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "it never stalled"
        await asyncio.sleep(0.05)  # sampling the count: "quiet" seconds with no change is the stall looked for
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def transport_buffer(server) -> int:
    (protocol,) = server.connections()
    return protocol.transport.get_write_buffer_size()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_a_client_that_does_not_read_stalls_awaited_sends(impl) -> None:
    progress = {"sent": 0, "peak": 0}
    stop = asyncio.Event()
    app = ws.App()

    @app.route("/flood")
    @ws.endpoint(write_limit=CHUNK)
    async def flood(request, sock):
        while not stop.is_set():
            await sock.data(b"x" * CHUNK)
            progress["sent"] += 1
            progress["peak"] = max(progress["peak"], sock.write_buffer_size())
        await sock.text("done")

    async with uvicorn_running(ws.asgi(app), ws=impl) as server:
        client = await ws.connect(url(server, "/flood"), max_queue=1, compression=False)
        sent = await stalled(lambda: progress["sent"])
        assert sent * CHUNK < KERNEL
        assert progress["peak"] <= 2 * CHUNK  # ours: write_limit, plus the message that crossed it
        assert transport_buffer(server) <= 2 * CHUNK + 1024  # uvicorn's: its 64 KiB mark, plus one frame
        stop.set()
        got = 0
        async with asyncio.timeout(TIMEOUT):
            while (msg := await client) != "done":
                assert len(msg) == CHUNK
                got += 1
        assert got == progress["sent"] >= sent
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
        assert client.close_code == 1000


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_unawaited_sends_to_a_slow_consumer_end_with_1013(impl) -> None:
    peak = 0
    app = ws.App()

    @app.route("/spray")
    @ws.endpoint
    async def spray(request, sock):
        nonlocal peak
        while not sock.closed:
            # game code that never awaits its sends: broadcast's max_buffer is the bound
            ws.broadcast([sock], "y" * 16384, max_buffer=2**18)
            peak = max(peak, sock.write_buffer_size())
            await asyncio.sleep(0)
        assert sock.close_code == 1013

    async with uvicorn_running(ws.asgi(app), ws=impl) as server:
        client = await ws.connect(url(server, "/spray"), max_queue=1, compression=False)
        await eventually(lambda: peak > 2**18, TIMEOUT)
        assert peak <= 2**18 + 16384
        with pytest.raises(ws.Closed) as info:
            async with asyncio.timeout(TIMEOUT):
                async for _ in client:
                    pass
        assert info.value.code == 1013 and info.value.reason == "slow consumer"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_a_flooding_client_stalls_when_the_app_does_not_read(impl) -> None:
    handed: asyncio.Future[ws.ASGISocket] = asyncio.get_running_loop().create_future()
    read = asyncio.Event()
    app = ws.App()

    @app.route("/sink")
    @ws.endpoint
    async def sink(request, sock):
        handed.set_result(sock)
        await read.wait()
        n = 0
        async for msg in sock:
            assert msg == str(n) * 1024 or msg == "end"
            if msg == "end":
                await sock.text(str(n))
                return
            n += 1

    async with uvicorn_running(ws.asgi(app), ws=impl) as server:
        client = await ws.connect(url(server, "/sink"), compression=False)
        sock = await asyncio.wait_for(handed, TIMEOUT)
        sent = 0

        async def flood() -> None:
            nonlocal sent
            while True:
                pending = client.text(str(sent) * 1024)  # sent at call time: counted before the wait
                sent += 1
                await pending

        task = asyncio.ensure_future(flood())
        try:
            stalled_at = await stalled(lambda: sent)
            assert stalled_at * 1024 < KERNEL and not task.done()
            assert sock.queued == 32  # max_queue: the socket stopped taking messages from uvicorn
            queue = getattr(server.connections()[0], "queue", None)  # sansio and wsproto: uvicorn's own queue
            if queue is not None:
                assert queue.qsize() * 1024 <= 2**18 + 1024  # what one read of the TCP connection brought
        finally:
            task.cancel()
        read.set()
        client.text("end")
        assert int(await asyncio.wait_for(client.recv(), TIMEOUT)) == sent
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)
