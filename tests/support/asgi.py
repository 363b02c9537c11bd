"""Real ASGI servers for the tests of ``ws.asgi``: uvicorn in this process (the
contract suite needs the server's socket objects), uvicorn and hypercorn as
subprocesses (the deployments people run), always on 127.0.0.1 with a free
port, subprocesses ended by their PID.

uvicorn and hypercorn are imported when a helper runs, not with this module:
the rest of the suite does not need them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs

from .timing import TIMEOUT, eventually, eventually_blocking, scaled

__all__ = ["InProcess", "ServerProcess", "asgi_process", "hypercorn_running", "uvicorn_running"]

ROOT = Path(__file__).resolve().parents[2]


@attrs.define
class InProcess:
    """A uvicorn server running in the test's event loop."""

    port: int
    server: Any  # uvicorn.Server (None for hypercorn)

    def connections(self) -> list[Any]:
        """uvicorn's protocol object of each open connection (HTTP or WebSocket)."""
        return list(self.server.server_state.connections)


@contextlib.asynccontextmanager
async def uvicorn_running(app: Any, **config: Any) -> AsyncIterator[InProcess]:
    """Serve the ASGI *app* with uvicorn in this event loop for the duration of the block.

    *config* goes to ``uvicorn.Config`` (``ws="wsproto"``, ``ws_max_size=...``).
    uvicorn's signal handlers are left out: the test runner keeps its own.  On
    exit uvicorn shuts down as on SIGTERM (lifespan shutdown included).
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config.setdefault("log_level", "warning")
    config.setdefault("lifespan", "on")
    server = Server(uvicorn.Config(app, **config))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), TIMEOUT)
        if not server.started:
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        yield InProcess(sock.getsockname()[1], server)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, scaled(20))
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def hypercorn_running(app: Any, **config: Any) -> AsyncIterator[InProcess]:
    """Serve *app* with hypercorn in this event loop (its ``Config`` fields as
    keywords); on exit it shuts down as on a signal."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)
    cfg = Config()
    cfg.bind = [f"fd://{sock.fileno()}"]
    cfg.loglevel = "WARNING"
    for name, value in config.items():
        setattr(cfg, name, value)
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(serve(app, cfg, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    port = sock.getsockname()[1]
    try:
        async def up() -> bool:
            return task.done() or await asyncio.to_thread(_answers, port, "/")

        await eventually(up, TIMEOUT)
        if task.done():
            task.result()
            raise RuntimeError("hypercorn stopped before it started")
        yield InProcess(port, None)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, scaled(20))
        finally:
            sock.detach()  # hypercorn made its own socket of the descriptor and closed it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@attrs.define
class ServerProcess:
    """An ASGI server in a subprocess: ``port``, and what it printed so far in ``output()``."""

    port: int
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM to its PID (a graceful shutdown, lifespan included); SIGKILL if it
        does not end in time.  Returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(scaled(20))
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(scaled(5))
        return self.proc.returncode


def _command(server: str, target: str, port: int, extra: list[str]) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port), *extra]
    if server == "hypercorn":
        return [sys.executable, "-m", "hypercorn", target, "--bind", f"127.0.0.1:{port}", *extra]
    raise ValueError(f"unknown ASGI server {server!r}")


def _answers(port: int, path: str) -> bool:
    """Whether an HTTP GET of *path* gets any status line back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return s.recv(12).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


@contextlib.contextmanager
def asgi_process(server: str, target: str, tmp: Path, *, ready: str = "/", extra: list[str] | None = None, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Run ``uvicorn target`` or ``hypercorn target`` from the repository root on a
    free port until it answers ``GET ready``; stop it by PID on exit."""
    port = free_port()
    log = tmp / f"{server}-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            _command(server, target, port, extra or []),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    handle = ServerProcess(port, proc, log)
    try:
        try:
            eventually_blocking(lambda: proc.poll() is not None or _answers(port, ready), scaled(30))
        except AssertionError:
            raise TimeoutError(f"{server} did not answer within {scaled(30):g} s:\n{handle.output()[-3000:]}") from None
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited with {proc.returncode}:\n{handle.output()[-3000:]}")
        yield handle
    finally:
        handle.stop()
