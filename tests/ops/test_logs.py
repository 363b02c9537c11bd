"""Logs: ``ws.configure_logging`` sends the ``ws`` and ``rooms`` loggers' records
to a stream, as text or JSON lines; and nothing is logged per message at INFO."""

from __future__ import annotations

import io
import json
import logging

import pytest

import ws
from examples.server import make_site
from tests.support import Bot, running, scaled

from .helpers import pair

pytestmark = pytest.mark.timeout(scaled(60))


@pytest.fixture
def restore_loggers():
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers), logging.getLogger(name).propagate) for name in ws.logs.LOGGERS}
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def test_json_lines(restore_loggers) -> None:
    stream = io.StringIO()
    ws.configure_logging("INFO", json=True, stream=stream)
    ws.configure_logging("INFO", json=True, stream=stream)  # again: still one handler
    assert len([h for h in logging.getLogger("rooms").handlers if h.get_name() == "ws.configure_logging"]) == 1
    logging.getLogger("rooms.redis").warning("node %s: Redis unreachable", "a", extra={"node": "a"})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("ws.server").exception("error handling %s %s", "GET", "/x")
    logging.getLogger("ws").debug("not at INFO")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "rooms.redis" and first["message"] == "node a: Redis unreachable"
    assert first["node"] == "a" and first["time"].endswith("Z")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"]


def test_text_lines(restore_loggers) -> None:
    stream = io.StringIO()
    ws.configure_logging(logging.WARNING, stream=stream)
    logging.getLogger("rooms").info("hidden")
    logging.getLogger("rooms").warning("shown")
    [line] = stream.getvalue().splitlines()
    assert line.endswith("WARNING rooms: shown")


async def test_no_log_line_per_message_at_info(caplog) -> None:
    site = make_site()
    with caplog.at_level(logging.INFO, logger="ws"), caplog.at_level(logging.INFO, logger="rooms"):
        async with running(site.app) as server:
            echo = await ws.connect(f"ws://127.0.0.1:{server.port}/echo")
            for i in range(200):
                await echo.send(f"message {i}")
                assert await echo == f"message {i}"
            echo.close()
            await echo.wait_closed()
            x, o = await pair(server)
            for cell, bot in ((0, x), (3, o), (1, x), (4, o), (2, x)):
                bot.send({"cell": cell})
                await x.recv_type("move")
                await o.recv_type("move")
            for bot in (x, o):
                await bot.messages_until_closed()
            watcher = await Bot.connect(server, "/tictactoe", watch="nope")
            await watcher.closed()
    assert [r for r in caplog.records if r.name.split(".")[0] in ("ws", "rooms")] == []
