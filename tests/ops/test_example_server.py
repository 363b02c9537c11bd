"""``python -m examples.server --metrics --admin-token TOKEN`` serves /metrics,
/healthz, /readyz and /admin/ beside the games (a real process)."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import sys

import attrs
import pytest

from tests.support import Bot, scaled

from .helpers import TOKEN, http, http_json
from .test_metrics import scrape_values

pytestmark = pytest.mark.timeout(scaled(60))
ROOT = pathlib.Path(__file__).resolve().parents[2]


@attrs.frozen
class Listening:
    port: int


async def test_the_example_server_with_the_operators_kit() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROOMS_ADMIN_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.server", "--port", "0", "--metrics", "--admin-token", TOKEN, "--log-format", "json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), scaled(20))).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        server = Listening(int(match.group(1)))
        kit = (await asyncio.wait_for(proc.stdout.readline(), scaled(5))).decode()
        assert "/metrics" in kit and "/admin/" in kit and "/readyz" in kit
        assert (await http(server, "GET", "/healthz"))[0] == 200
        assert (await http(server, "GET", "/readyz"))[2] == b'{"ready":true}'
        a = await Bot.connect(server, "/tictactoe", name="a")
        await a.recv_type("lobby")
        status, _, body = await http(server, "GET", "/metrics")
        values = scrape_values(body.decode())
        assert status == 200 and values[("rooms_waiting_players", (("lobby", "tictactoe"), ("mode", "")))] == 1
        assert values[("ws_connections", ())] == 1
        assert (await http(server, "GET", "/admin/"))[0] == 401
        status, state = await http_json(server, "GET", "/admin/api/state")
        lobbies = {lobby["name"]: lobby for lobby in state["processes"][0]["lobbies"]}
        assert status == 200 and lobbies["tictactoe"]["waiting"] == {"": 1} and "chess_game" in lobbies
        await a.aclose()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), scaled(10))


async def test_without_the_flags_there_is_no_metrics_nor_admin_page() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROOMS_ADMIN_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.server", "--port", "0",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), scaled(20))).decode()
        server = Listening(int(re.search(r"127\.0\.0\.1:(\d+)/", line).group(1)))  # type: ignore[union-attr]
        assert (await http(server, "GET", "/metrics"))[0] == 404
        assert (await http(server, "GET", "/admin/"))[0] == 404
        assert (await http(server, "GET", "/healthz"))[0] == 200
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), scaled(10))


async def test_sigterm_drains_the_example_server() -> None:
    """A deploy's SIGTERM: the players' sockets are closed with 1001 and the process exits by itself."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.server", "--port", "0",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), scaled(20))).decode()
        server = Listening(int(re.search(r"127\.0\.0\.1:(\d+)/", line).group(1)))  # type: ignore[union-attr]
        a = await Bot.connect(server, "/tictactoe", name="a")
        await a.recv_type("lobby")
        proc.terminate()
        closed = await a.closed(scaled(10))
        assert closed.code == 1001
        assert await asyncio.wait_for(proc.wait(), scaled(15)) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
