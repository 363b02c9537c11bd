"""Soak: open and drop a few thousand connections, then check nothing is left.

A bounded loop on loopback with bounded concurrency mixes clean closes, aborts
in the middle of the opening handshake and aborts after the upgrade (with and
without a message in flight).  Afterwards the server's statistics, the number of
asyncio tasks and the process's open file descriptors must be back where they
started: no slack is allowed, since every socket either side opened is closed
before the check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import ws
from tests.support import ZERO, echo_app, eventually, frame, read_head, reset, running, scaled, settled, status_of, upgrade_request, url

TOTAL = 2000
CONCURRENCY = 50


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_soak_thousands_of_connections_leave_nothing_behind(caplog) -> None:
    caplog.set_level(logging.WARNING)
    outcomes = {"clean": 0, "mid-handshake": 0, "after-upgrade": 0, "mid-frame": 0}
    async with running(echo_app()) as server:
        # Warm up once so lazily created loop resources are not counted as leaks.
        client = await ws.connect(url(server, "/echo"))
        client.close()
        await client.wait_closed()
        await settled(server)
        fds_before = open_fds()
        tasks_before = len(asyncio.all_tasks())
        request = upgrade_request("/echo")
        gate = asyncio.Semaphore(CONCURRENCY)

        async def clean(i: int) -> None:
            client = await ws.connect(url(server, "/echo"), open_timeout=scaled(5), compression=i % 8 == 0)
            try:
                await client.text(f"n{i}")
                assert await asyncio.wait_for(client.recv(), scaled(5)) == f"n{i}"
            finally:
                client.close()
                await asyncio.wait_for(client.wait_closed(), scaled(5))

        async def raw(i: int, kind: str) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                if kind == "mid-handshake":
                    writer.write(request[: 1 + i % (len(request) - 1)])
                    await writer.drain()
                    await asyncio.sleep(0)  # one turn of the loop, then the abort: part of the chaos, not a wait
                    return
                writer.write(request)
                head = await read_head(reader, timeout=scaled(5))
                assert status_of(head) == 101, head
                if kind == "mid-frame":
                    writer.write(frame(0x1, b"x" * 200)[: 2 + i % 100])
                    await writer.drain()
            finally:
                # Half the aborts are RSTs, half FINs without a closing handshake.
                reset(writer) if i % 2 else writer.close()

        async def one(i: int) -> None:
            kind = ("clean", "mid-handshake", "after-upgrade", "mid-frame")[i % 4]
            async with gate:
                if kind == "clean":
                    await clean(i)
                else:
                    await raw(i, kind)
            outcomes[kind] += 1

        started = time.monotonic()
        async with asyncio.timeout(scaled(60)):
            async with asyncio.TaskGroup() as tg:
                for i in range(TOTAL):
                    tg.create_task(one(i))
        elapsed = time.monotonic() - started
        assert sum(outcomes.values()) == TOTAL
        stats = await settled(server, timeout=scaled(5))
        # The RSTs and FINs are processed; give writers closed with close() their turn.
        await eventually(lambda: open_fds() <= fds_before and len(asyncio.all_tasks()) <= tasks_before, scaled(5))
        fds_after = open_fds()
        tasks_after = len(asyncio.all_tasks())
        print(
            f"\nsoak: {TOTAL} connections {outcomes} in {elapsed:.1f}s; "
            f"fds {fds_before} -> {fds_after}; tasks {tasks_before} -> {tasks_after}; statistics {stats}"
        )
        assert stats == ZERO
        assert fds_after == fds_before
        assert tasks_after == tasks_before
        assert elapsed < 20
        # And the server still serves.
        client = await ws.connect(url(server, "/echo"))
        await client.text("after the storm")
        assert await asyncio.wait_for(client.recv(), scaled(3)) == "after the storm"
        client.close()
        await client.wait_closed()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records][:5]
