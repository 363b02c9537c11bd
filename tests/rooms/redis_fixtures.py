"""Fixtures for the Redis tests: a real ``redis-server`` and real node processes.

``redis_server`` starts ``redis-server --port <free> --save '' --appendonly no``
bound to 127.0.0.1 in a temporary directory (never a shared server), and stops
it by PID.  ``cluster`` starts node processes running ``tests.rooms.redis_app``
on free ports and stops (or kills) them by PID.  Without ``redis-server`` on the
machine, the tests that use them are skipped with one line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import TIMEOUT, eventually_blocking, scaled, url

ROOT = Path(__file__).resolve().parents[2]
REDIS = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One private redis-server process; ``stop`` and ``start`` keep the port."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir,
        )
        proc = self.proc

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        try:
            eventually_blocking(answers, scaled(10), interval=0.02)
        except AssertionError:
            raise RuntimeError(f"redis-server did not start within {scaled(10):g} s") from None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(scaled(5))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(scaled(5))

    def client(self):
        import redis.asyncio

        return redis.asyncio.from_url(self.url)


@pytest.fixture
def redis_server(tmp_path: Path):
    if REDIS is None:
        pytest.skip("redis-server is not installed (make test installs it through scripts/system-deps.sh)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Node:
    """One server process of the cluster (tests.rooms.redis_app)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.port = port
        self.log = log

    def url(self, path: str = "/game", **query: Any) -> str:
        return url(self, path, **query)

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def kill(self) -> None:
        """kill -9: no goodbye to the cluster."""
        if self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)

    async def stop(self) -> int | None:
        if self.alive:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), scaled(10))
            except asyncio.TimeoutError:
                os.kill(self.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), scaled(5))
        return self.proc.returncode

    async def state(self) -> dict[str, Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(b"GET /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), TIMEOUT)
        finally:
            writer.close()
        return json.loads(data.split(b"\r\n\r\n", 1)[1])

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


class Cluster:
    def __init__(self, redis: RedisServer, directory: Path) -> None:
        self.redis = redis
        self.dir = directory
        self.nodes: list[Node] = []

    async def start(self, name: str, *extra: str) -> Node:
        log = self.dir / f"node-{name}.log"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.rooms.redis_app", "--port", "0", "--redis", self.redis.url, "--node", name, *extra,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=open(log, "ab"),  # appended: a node started again keeps its history
        )
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), scaled(15))
        except asyncio.TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise RuntimeError(f"node {name} did not start: {log.read_text()[-3000:]}")
        node = Node(name, proc, int(line.split()[1]), log)
        self.nodes.append(node)
        return node

    async def close(self) -> None:
        codes = await asyncio.gather(*(n.stop() for n in self.nodes), return_exceptions=True)
        for node, code in zip(self.nodes, codes):
            if node.log.exists() and "Traceback" in node.log.read_text():
                print(f"--- log of node {node.name} ---\n{node.log_tail()}")


@pytest.fixture
async def cluster(redis_server: RedisServer, tmp_path: Path):
    c = Cluster(redis_server, tmp_path)
    try:
        yield c
    finally:
        await c.close()
