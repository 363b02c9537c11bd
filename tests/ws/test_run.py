"""ws.run: serve in a new event loop, on uvloop when asked and installed."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import pytest

import ws
from tests.support import echo_app, scaled, url
from ws.server import event_loop_factory

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def test_default_factory_is_asyncio() -> None:
    assert event_loop_factory() is asyncio.new_event_loop
    assert event_loop_factory(False) is asyncio.new_event_loop


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")
def test_uvloop_factory_when_installed() -> None:
    import uvloop

    assert event_loop_factory(True) is uvloop.new_event_loop


def test_uvloop_asked_but_missing_falls_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert event_loop_factory(True) is asyncio.new_event_loop
    assert "uvloop was asked for but is not installed" in caplog.text


@pytest.mark.parametrize("uvloop", [False, pytest.param(True, marks=pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop"))])
def test_run_serves_until_closed(uvloop: bool) -> None:
    """ws.run in a thread: a client's echo goes through, then closing the server ends run()."""
    started = threading.Event()
    state: dict = {}

    def on_start(server: ws.Server) -> None:
        state["server"], state["loop"] = server, asyncio.get_running_loop()
        started.set()

    thread = threading.Thread(target=ws.run, args=(echo_app(), "127.0.0.1", 0),
                              kwargs={"uvloop": uvloop, "on_start": on_start}, daemon=True)
    thread.start()
    assert started.wait(scaled(10))
    server, loop = state["server"], state["loop"]
    if uvloop:
        assert type(loop).__module__.startswith("uvloop")

    async def client() -> str:
        sock = await ws.connect(url(server, "/echo"))
        sock.text("hello")
        reply = await asyncio.wait_for(sock.recv(), scaled(5))
        sock.close()
        await asyncio.wait_for(sock.wait_closed(), scaled(5))
        return reply

    assert asyncio.run(client()) == "hello"
    loop.call_soon_threadsafe(server.close)
    thread.join(scaled(15))
    assert not thread.is_alive()
