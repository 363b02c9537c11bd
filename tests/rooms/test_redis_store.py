"""rooms.cluster.store.Store against a real redis-server: script calls go in
pipelines one at a time (in order, each with its own result or error, one
pooled connection for a burst), survive Redis losing its scripts, and never
leave a caller waiting when the store closes or Redis is away."""

from __future__ import annotations

import asyncio

import pytest

from rooms.cluster.bus import Bus, Kind
from rooms.cluster.store import REDIS_ERRORS, Store
from tests.rooms.redis_fixtures import _free_port, redis_server  # noqa: F401
from tests.support import scaled

P = "st:"


def _store(url: str) -> Store:
    store = Store(url, P, "x", "x-1", block_ms=100)
    store.connect()
    return store


def _join(store: Store, tid: str, at: str = "") -> asyncio.Future:
    # ARGV as rooms.cluster.queues sends it: a 2-player lobby, no bands, not durable.
    return store.call("JOIN", P, "lobby|[]", tid, store.node, at, "", "{}", 2, "lobby", "", "", "", 0, "", "")


async def test_a_burst_of_calls_in_order_on_one_connection(redis_server):
    store = _store(redis_server.url)
    probe = redis_server.client()
    try:
        await probe.set(P + "node:x", "1")
        # Each JOIN/LEAVE pair is issued back to back: the LEAVE must see its JOIN.
        calls = []
        for i in range(100):
            calls.append(_join(store, f"t{i}", at=str(1000 + i)))
            calls.append(store.call("LEAVE", P, f"t{i}"))
        results = await asyncio.gather(*calls)
        assert results[0::2] == [[1, f"{1000 + i:.6f}".encode()] for i in range(100)]
        assert results[1::2] == [1] * 100
        assert await probe.zcard(P + "q:lobby|[]") == 0
        # The whole burst went over one connection of the pool (the probe is the other).
        info = await probe.info("clients")
        assert info["connected_clients"] == 2
    finally:
        await store.close()
        await probe.aclose()


async def test_an_error_fails_only_its_own_call(redis_server):
    store = _store(redis_server.url)
    try:
        good = store.call("LEAVE", P, "nobody")
        bad = store.call("APPEND", P)  # too few arguments: the script fails in Redis
        also_good = store.call("LEAVE", P, "nobody either")
        assert await good == 0 and await also_good == 0
        with pytest.raises(REDIS_ERRORS):
            await bad
    finally:
        await store.close()


async def test_calls_and_pipelines_load_the_scripts_again_when_redis_lost_them(redis_server):
    store = _store(redis_server.url)
    probe = redis_server.client()
    try:
        await probe.set(P + "node:x", "1")
        await probe.set(P + "node:y", "1")
        assert await store.call("LEAVE", P, "nobody") == 0
        await probe.script_flush()  # as a restarted Redis without persistence
        assert await store.call("LEAVE", P, "nobody") == 0
        # The bus's pipelines run scripts by SHA alone: a NOSCRIPT there is retried too.
        await probe.script_flush()
        bus = Bus(store, should_stop=lambda: True)
        bus.send("y", Kind.INPUT, "conn", "hello")
        await asyncio.wait_for(bus.writer(), scaled(5))
        assert len(bus) == 0 and not store.paused
        assert await probe.xlen(P + "in:y") == 1
    finally:
        await store.close()
        await probe.aclose()


async def test_closing_fails_the_calls_not_sent_yet(redis_server):
    store = _store(redis_server.url)
    pending = store.call("LEAVE", P, "nobody")
    await store.close()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(pending, scaled(2))


async def test_redis_away_fails_every_call_of_the_batch():
    store = _store(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    try:
        calls = [store.call("LEAVE", P, f"t{i}") for i in range(5)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), scaled(10))
        assert all(isinstance(r, REDIS_ERRORS) for r in results), results
        # The next call is sent again (the sender is not stuck on the failure).
        with pytest.raises(REDIS_ERRORS):
            await asyncio.wait_for(store.call("LEAVE", P, "again"), scaled(10))
    finally:
        await store.close()
