"""``ws.mux`` over real server-side sockets: arrival order, the first disconnect,
abandoning a mux and taking sockets over, no tasks left behind."""

from __future__ import annotations

import asyncio

import pytest

import ws
from tests.support import eventually, raised, returned, running, scaled, url

# ---------------------------------------------------------------------- helpers


class Pair:
    """An app with an ``aggregate(2)`` endpoint at /pair whose handler runs ``body(a, b)``.

    ``a`` is the server side of the first client to connect, ``b`` of the second.
    ``outcome`` gets ``("returned", value)`` or ``("raised", exc)``.
    """

    def __init__(self, body):
        loop = asyncio.get_running_loop()
        self.outcome = loop.create_future()
        self.socks = loop.create_future()

        async def handler(request, socks):
            self.socks.set_result(tuple(socks))
            try:
                value = await body(*socks)
            except BaseException as exc:
                self.outcome.set_result(("raised", exc))
                raise
            self.outcome.set_result(("returned", value))

        self.app = ws.App()
        self.handler = ws.aggregate(2)(handler)
        self.app.route("/pair")(self.handler)

    async def connect(self, server):
        """Connect two clients in a known order; return them and their server sides."""
        a = await ws.connect(url(server, "/pair"))
        await eventually(lambda: self.handler.waiting() == {"/pair": 1}, scaled(2), interval=0.005)
        b = await ws.connect(url(server, "/pair"))
        sa, sb = await asyncio.wait_for(self.socks, scaled(2))
        return a, b, sa, sb

    async def returned(self, timeout=scaled(3)):
        return await returned(self.outcome, timeout)

    async def raised(self, timeout=scaled(3)):
        return await raised(self.outcome, timeout)


async def queued(sock, n, timeout=scaled(2)):
    """Wait until the server-side *sock* holds *n* unread messages (so arrival order is known)."""
    await eventually(lambda: sock.queued >= n, timeout, interval=0.002)


async def shut(*clients):
    for client in clients:
        client.close()
    await asyncio.wait_for(asyncio.gather(*(c.wait_closed() for c in clients)), scaled(3))


# ---------------------------------------------------------------------- order


@pytest.mark.parametrize("make", [lambda a, b: ws.mux(a, b), lambda a, b: a.mux(b)], ids=["ws.mux", "a.mux"])
async def test_mux_yields_pairs_in_arrival_order(make):
    ready = asyncio.Event()
    go = asyncio.Event()

    async def body(a, b):
        m = make(a, b)
        assert isinstance(m, ws.Mux)
        assert list(m.socks) == [a, b]
        ready.set()
        await go.wait()
        pairs = []
        async for sock, msg in m:
            pairs.append((sock, msg))
            if len(pairs) == 5:
                return pairs

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        await asyncio.wait_for(ready.wait(), scaled(2))
        # Interleave, and make sure each message has arrived before the next is sent.
        for client, sock, msg, n in [(b, sb, "b1", 1), (a, sa, "a1", 1), (a, sa, b"a2", 2), (b, sb, "b2", 2), (a, sa, "a3", 3)]:
            client.send(msg)
            await queued(sock, n)
        go.set()
        pairs = await pair.returned()
        await shut(a, b)
    assert pairs == [(sb, "b1"), (sa, "a1"), (sa, b"a2"), (sb, "b2"), (sa, "a3")]
    assert [type(m) for _, m in pairs] == [ws.TextMessage, ws.TextMessage, ws.DataMessage, ws.TextMessage, ws.TextMessage]


async def test_await_mux_gives_one_pair_at_a_time():
    async def body(a, b):
        m = a.mux(b)
        for _ in range(4):
            sock, msg = await m
            await sock.text(f"ack {msg}")

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        for client, msg in [(a, "1"), (b, "2"), (b, "3"), (a, "4")]:
            client.text(msg)
            # The ack comes back on the socket that sent the message.
            assert await asyncio.wait_for(client.recv(), scaled(2)) == f"ack {msg}"
        await pair.returned()
        await shut(a, b)


def test_mux_needs_a_socket():
    with pytest.raises(ValueError):
        ws.mux()


# ---------------------------------------------------------------------- disconnects


async def test_first_disconnect_raises_closed_naming_the_socket():
    seen = []

    async def body(a, b):
        try:
            async for sock, msg in ws.mux(a, b):
                seen.append((sock, msg))
        except ws.Closed as exc:
            # The other socket is still ours, and still open.
            after = await a
            return exc, after

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        a.text("from a")
        await eventually(lambda: seen, scaled(2), interval=0.002)
        b.text("last words")
        with pytest.raises(ws.Closed):
            await asyncio.wait_for(b.close(4000, "gone"), scaled(3))
        a.text("a again")
        exc, after = await pair.returned()
        await shut(a)
    assert seen == [(sa, "from a"), (sb, "last words")]  # b's messages come before its close
    assert type(exc) is ws.Closed
    assert exc.socket is sb
    assert exc.code == 4000 and exc.reason == "gone" and exc.message.is_close
    assert after == "a again"


async def test_disconnect_of_a_socket_with_nothing_queued_still_raises():
    async def body(a, b):
        m = ws.mux(a, b)
        while True:
            await m

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        a.abort()
        exc = await pair.raised()
        await shut(b)
    assert type(exc) is ws.Closed and exc.socket is sa and exc.code == 1006 and exc.message is None


async def test_mux_over_an_already_closed_socket_raises_after_its_messages():
    go = asyncio.Event()

    async def body(a, b):
        await go.wait()
        m = ws.mux(a, b)
        first = await m
        try:
            await m
        except ws.Closed as exc:
            return first, exc

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        b.text("before leaving")
        await shut(b)
        go.set()
        first, exc = await pair.returned()
        await shut(a)
    assert first == (sb, "before leaving")
    assert exc.socket is sb and exc.code == 1000


# ---------------------------------------------------------------------- abandoning


async def test_abandoned_mux_loses_no_message_and_a_new_mux_takes_over():
    go = asyncio.Event()
    more = asyncio.Event()
    report = {}

    async def body(a, b):
        old = ws.mux(a, b)
        await go.wait()
        async for sock, msg in old:
            report["first"] = (sock, msg)
            break  # abandon the mux with messages still queued
        report["direct"] = [await a, await a]
        more.set()
        await queued(a, 1)
        new = ws.mux(a, b)
        report["new"] = [await new, await new]
        # The old mux no longer hears from these sockets.
        try:
            report["old"] = await asyncio.wait_for(old, 0.1)
        except TimeoutError:
            report["old"] = "nothing"

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        for msg in ["1", "2", "3"]:
            a.text(msg)
        await queued(sa, 3)
        b.text("b1")
        await queued(sb, 1)
        go.set()
        await asyncio.wait_for(more.wait(), scaled(2))
        a.text("4")
        await pair.returned()
        await shut(a, b)
    assert report["first"] == (sa, "1")
    assert report["direct"] == ["2", "3"]
    assert report["new"] == [(sb, "b1"), (sa, "4")]
    assert report["old"] == "nothing"


async def test_mux_as_context_manager_gives_sockets_back():
    async def body(a, b):
        with ws.mux(a, b) as m:
            first = await m
        assert a.listener is None and b.listener is None
        return first, await b

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        b.text("x")
        b.text("y")
        first, second = await pair.returned()
        await shut(a, b)
    assert first == (sb, "x") and second == "y"


async def test_mux_leaves_no_tasks_behind():
    async def body(a, b):
        before = set(asyncio.all_tasks())
        for i in range(20):
            m = ws.mux(a, b)
            with pytest.raises(TimeoutError):  # nothing was sent yet
                async with asyncio.timeout(0.005):
                    await m
            await (a if i % 2 else b).text("ready")
            async for sock, msg in a.mux(b):
                break
            assert msg == "ping" and sock is (a if i % 2 else b)
            await sock.text("pong")
        await asyncio.sleep(0)  # one turn of the loop: tasks that just finished are gone from all_tasks()
        return len(before), len(asyncio.all_tasks()), [t for t in asyncio.all_tasks() if t not in before]

    pair = Pair(body)
    async with running(pair.app) as server:
        a, b, sa, sb = await pair.connect(server)
        for i in range(20):
            client = a if i % 2 else b
            async with asyncio.timeout(scaled(2)):  # no wait_for: it would add a task of its own
                assert await client == "ready"
                client.text("ping")
                assert await client == "pong"
        before, after, new = await pair.returned()
        await shut(a, b)
    assert after == before, new
