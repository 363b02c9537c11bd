"""A disconnect is a cancellation (``ws.Closed`` subclasses ``asyncio.CancelledError``).

These tests pin down, over real sockets and on Python 3.11, how that meets
``asyncio.timeout``, ``asyncio.wait_for``, ``asyncio.TaskGroup`` and
``asyncio.shield``, and that cancelling a read or a send never loses a message.
The docs (explanation: cancellation) cite them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest

import ws
from tests.support import close_client, closed_by_server, endpoint_app, eventually, returned, running, scaled, settled, url
from ws.frames import apply_mask, frame_header

# ---------------------------------------------------------------------- helpers


def client_frame(text: str) -> bytes:
    """A masked text frame, as a client sends it."""
    mask = os.urandom(4)
    payload = text.encode()
    return frame_header(0x1, len(payload), mask=mask) + apply_mask(payload, mask)


def reading_soon() -> asyncio.Future[None]:
    """A future the server side sets right before it awaits a read: once the test
    sees it set, that read is waiting (nothing runs in between), so a close the
    test sends now reaches a blocked reader."""
    return asyncio.get_running_loop().create_future()


async def waiting_on(sock, timeout=scaled(2)):
    """Wait until some task is blocked reading *sock* (a socket or a mux)."""
    await eventually(lambda: sock._waiter is not None, timeout, interval=0.001)


# ---------------------------------------------------------------------- asyncio.timeout


async def test_disconnect_inside_timeout_is_closed_not_timeout_error():
    reading = reading_soon()

    async def body(sock):
        started = time.monotonic()
        try:
            async with asyncio.timeout(5):
                reading.set_result(None)
                await sock
        except BaseException as exc:
            return exc, time.monotonic() - started, asyncio.current_task().cancelling()

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        await asyncio.wait_for(reading, scaled(2))
        await close_client(client, 4000, "bye")
        exc, elapsed, cancelling = await returned(outcome)
    assert type(exc) is ws.Closed, f"got {exc!r}"
    assert exc.code == 4000 and exc.reason == "bye"
    assert elapsed < 2
    # Closed is raised, not requested with task.cancel(): no cancellation is pending.
    assert cancelling == 0


async def test_real_timeout_is_timeout_error_and_socket_stays_usable():
    async def body(sock):
        try:
            async with asyncio.timeout(0.1):
                await sock
        except TimeoutError:
            pass
        else:
            raise AssertionError("no timeout")
        assert asyncio.current_task().cancelling() == 0
        assert not sock.closed
        await sock.text("timed out")
        msg = await sock
        await sock.text(f"echo {msg}")
        return msg

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "timed out"
        client.text("later")
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "echo later"
        assert await returned(outcome) == "later"
        await closed_by_server(client)


# ---------------------------------------------------------------------- asyncio.wait_for


async def test_wait_for_passes_closed_through():
    holder = {}

    reading = reading_soon()

    async def body(sock):
        holder["sock"] = sock
        try:
            reading.set_result(None)  # (wait_for's task starts reading before the close can arrive)
            await asyncio.wait_for(sock, 5)
        except BaseException as exc:
            return exc

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        await asyncio.wait_for(reading, scaled(2))
        await close_client(client, 4000, "bye")
        exc = await returned(outcome)
    # wait_for runs `sock` in a task of its own; that task ends "cancelled" by Closed,
    # and wait_for re-raises the very exception object that cancelled it.
    assert type(exc) is ws.Closed, f"got {exc!r}"
    assert exc.code == 4000 and exc.reason == "bye"
    assert exc.socket is holder["sock"]


async def test_wait_for_timeout_loses_no_message():
    async def body(sock):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sock, 0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sock.mux(), 0.05)
        await sock.text("timed out")
        return await asyncio.wait_for(sock, scaled(2))

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "timed out"
        client.text("after")
        assert await returned(outcome) == "after"
        await closed_by_server(client)


# ---------------------------------------------------------------------- asyncio.TaskGroup


async def test_taskgroup_child_reading_a_socket_that_disconnects():
    # Python 3.11: a task ending in a CancelledError subclass counts as *cancelled*, and a
    # TaskGroup ignores cancelled children: a disconnect in a child neither aborts the group
    # nor cancels its siblings.  The first task.result() re-raises the original Closed.
    reading = reading_soon()

    async def body(sock):
        async def read_forever():
            reading.set_result(None)
            while True:
                await sock

        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(read_forever())
            # A sibling with work of its own that outlasts the disconnect: it must finish.
            sibling = tg.create_task(asyncio.sleep(0.3, "sibling finished"))
        try:
            reader.result()
        except BaseException as exc:
            first = exc
        try:
            reader.result()
        except BaseException as exc:
            second = exc
        return reader.cancelled(), sibling.result(), first, second

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        await asyncio.wait_for(reading, scaled(2))
        await close_client(client, 4000, "bye")
        cancelled, sibling, first, second = await returned(outcome)
    assert cancelled is True
    assert sibling == "sibling finished"
    assert type(first) is ws.Closed and first.code == 4000
    assert type(second) is asyncio.CancelledError  # only the first retrieval keeps it


async def test_taskgroup_body_reading_a_socket_that_disconnects():
    # Python 3.11: Closed raised in the body of `async with TaskGroup()` is not treated as
    # the parent's cancellation (that needs exactly CancelledError): the group cancels its
    # children and raises BaseExceptionGroup([Closed]); catch it with `except* ws.Closed`.
    reading = reading_soon()

    async def body(sock):
        started = time.monotonic()
        try:
            async with asyncio.TaskGroup() as tg:
                sibling = tg.create_task(asyncio.sleep(10))  # a sibling the group must cancel
                reading.set_result(None)
                await sock
        except BaseException as exc:
            group = exc
        try:
            raise group
        except* ws.Closed as caught:
            via_except_star = caught.exceptions
        return group, sibling.cancelled(), via_except_star, time.monotonic() - started, asyncio.current_task().cancelling()

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        await asyncio.wait_for(reading, scaled(2))
        await close_client(client, 4000, "bye")
        group, sibling_cancelled, via_except_star, elapsed, cancelling = await returned(outcome)
    assert type(group) is BaseExceptionGroup
    assert not isinstance(group, Exception)  # so `except Exception` does not catch it
    [closed] = group.exceptions
    assert type(closed) is ws.Closed and closed.code == 4000
    assert via_except_star == (closed,)
    assert sibling_cancelled
    assert elapsed < 2
    assert cancelling == 0


async def test_taskgroup_disconnect_escaping_a_handler_is_a_quiet_close(caplog):
    # Game code that lets the BaseExceptionGroup([Closed]) of a TaskGroup escape: the
    # endpoint takes it for the disconnect it is, not for a crash to log.
    done = asyncio.get_running_loop().create_future()
    app = ws.App()

    @app.route("/")
    @ws.endpoint
    async def handler(request, sock):
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(asyncio.sleep(10))  # a sibling the group must cancel
                async for msg in sock:
                    await sock.text(msg)
        finally:
            done.set_result(None)

    with caplog.at_level(logging.INFO):
        async with running(app) as server:
            client = await ws.connect(url(server))
            client.text("hi")
            assert await asyncio.wait_for(client.recv(), scaled(2)) == "hi"
            await close_client(client, 4000)
            await asyncio.wait_for(done, scaled(2))
            await settled(server)  # the endpoint has finished with the handler's exception
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# ---------------------------------------------------------------------- asyncio.shield


async def test_cancelling_a_shielded_or_plain_send_loses_no_message():
    state = {}
    blocked = asyncio.get_running_loop().create_future()

    async def body(sock):
        chunk = os.urandom(1 << 16)
        count = 0
        while sock.transport.get_write_buffer_size() <= sock.options.write_limit:
            sock.data(chunk)
            count += 1
        assert count < 4000

        async def shielded():
            await asyncio.shield(sock.text("shielded"))

        async def plain():
            await sock.text("plain")

        tasks = [asyncio.create_task(shielded()), asyncio.create_task(plain())]
        await asyncio.sleep(0.1)  # what is tested: for 0.1 s, with the reader stalled, no send completes
        assert not any(t.done() for t in tasks), "sends did not wait for the slow reader"
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        state["cancelled"] = [type(r) for r in results]
        blocked.set_result(count)
        return await sock  # until the client has read everything

    app, outcome = endpoint_app(body, compression=False)
    async with running(app) as server:
        client = await ws.connect(url(server), compression=False)
        client.transport.pause_reading()
        count = await asyncio.wait_for(blocked, scaled(5))
        client.transport.resume_reading()
        for _ in range(count):
            assert len(await asyncio.wait_for(client.recv(), scaled(3))) == 1 << 16
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "shielded"
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "plain"
        client.text("all read")
        assert await returned(outcome) == "all read"
        await closed_by_server(client)
    assert state["cancelled"] == [asyncio.CancelledError, asyncio.CancelledError]


async def test_cancelling_a_shielded_recv_loses_no_message():
    async def body(sock):
        inner = asyncio.ensure_future(sock.recv())  # keep a reference to what you shield

        async def shielded():
            return await asyncio.shield(inner)

        outer = asyncio.create_task(shielded())
        await waiting_on(sock)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        assert not inner.done()
        await sock.text("cancelled")
        first = await asyncio.wait_for(inner, scaled(2))
        second = await sock
        return first, second

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "cancelled"
        client.text("one")
        client.text("two")
        assert await returned(outcome) == ("one", "two")
        await closed_by_server(client)


async def test_shield_turns_closed_into_a_plain_cancelled_error():
    # asyncio.shield() cancels the outer future when the inner ends cancelled, and Closed
    # ends it cancelled: the awaiting task sees a bare CancelledError (no code, no socket).
    # The Closed itself is on the inner task, for those who kept a reference to it.
    reading = reading_soon()

    async def body(sock):
        inner = asyncio.ensure_future(sock.recv())
        try:
            reading.set_result(None)  # (inner starts reading before the close can arrive)
            await asyncio.shield(inner)
        except BaseException as exc:
            outer_exc = exc
        try:
            inner.result()
        except BaseException as exc:
            inner_exc = exc
        return outer_exc, inner_exc, asyncio.current_task().cancelling()

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        await asyncio.wait_for(reading, scaled(2))
        await close_client(client, 4000, "bye")
        outer_exc, inner_exc, cancelling = await returned(outcome)
    assert type(outer_exc) is asyncio.CancelledError
    assert type(inner_exc) is ws.Closed and inner_exc.code == 4000
    assert cancelling == 0


# ---------------------------------------------------------------------- races


async def test_read_cancelled_after_its_message_arrived_keeps_the_message():
    async def body(sock):
        reader = asyncio.create_task(_read(sock))
        await waiting_on(sock)
        # In one step of the loop: the message arrives (waking the reader) and the reader
        # is cancelled before it runs.  The message must stay queued for the next read.
        sock.data_received(client_frame("raced"))
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        return await asyncio.wait_for(sock, scaled(1))

    app, outcome = endpoint_app(body, compression=False)
    async with running(app) as server:
        client = await ws.connect(url(server), compression=False)
        assert await returned(outcome) == "raced"
        await closed_by_server(client)


async def _read(sock):
    return await sock


async def test_mux_read_cancelled_after_its_message_arrived_keeps_the_message():
    async def body(sock):
        m = ws.mux(sock)
        reader = asyncio.create_task(_read(m))
        await waiting_on(m)
        sock.data_received(client_frame("raced"))
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        got, msg = await asyncio.wait_for(m, scaled(1))
        assert got is sock
        return msg

    app, outcome = endpoint_app(body, compression=False)
    async with running(app) as server:
        client = await ws.connect(url(server), compression=False)
        assert await returned(outcome) == "raced"
        await closed_by_server(client)


# ---------------------------------------------------------------------- concurrent readers


async def test_second_concurrent_reader_is_refused_and_first_still_wakes():
    # Two tasks reading one socket would race for each message, and the first one's
    # wake-up would be lost for good (not even a disconnect would reach it).
    async def body(sock):
        first = asyncio.create_task(_read(sock))
        await waiting_on(sock)
        with pytest.raises(RuntimeError):
            await sock
        await sock.text("ready")
        one = await asyncio.wait_for(first, scaled(2))
        # The same holds for a mux read by two tasks.
        m = ws.mux(sock)
        mux_first = asyncio.create_task(_read(m))
        await waiting_on(m)
        with pytest.raises(RuntimeError):
            await m
        await sock.text("ready again")
        two = await asyncio.wait_for(mux_first, scaled(2))
        # And after a refused read, the socket still reports its close.
        first = asyncio.create_task(_read(sock))
        await waiting_on(sock)
        with pytest.raises(RuntimeError):
            await sock
        await sock.text("close now")
        try:
            await asyncio.wait_for(first, scaled(2))
        except ws.Closed as exc:
            return one, two, exc.code

    app, outcome = endpoint_app(body)
    async with running(app) as server:
        client = await ws.connect(url(server))
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "ready"
        client.text("one")
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "ready again"
        client.text("two")
        assert await asyncio.wait_for(client.recv(), scaled(2)) == "close now"
        await close_client(client, 4000)
        one, (sock, two), code = await returned(outcome)
    assert (one, two, code) == ("one", "two", 4000)


async def test_taskgroup_disconnect_escaping_an_aggregate_handler_closes_the_others_normally(caplog):
    app = ws.App()
    joined = asyncio.Event()

    @app.route("/pair")
    @ws.aggregate(2)
    async def pair(request, socks):
        joined.set()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.sleep(10))  # a sibling the group must cancel
            async for sock, msg in ws.mux(*socks):
                pass

    with caplog.at_level(logging.INFO):
        async with running(app) as server:
            a = await ws.connect(url(server, "/pair"))
            b = await ws.connect(url(server, "/pair"))
            await asyncio.wait_for(joined.wait(), scaled(2))
            await close_client(a, 4000)
            assert (await closed_by_server(b)).code == 1000
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
