"""Fixtures for the PostgreSQL tests: a real server, never a mock.

``postgres_server`` (one per test session) runs Debian's PostgreSQL binaries
(``initdb``, ``pg_ctl``; on the PATH or under /usr/lib/postgresql/<version>/bin)
in a temporary directory, listening on 127.0.0.1 and a free port, trusting
local connections, with fsync off (a test server).  As root it runs them as the
``postgres`` user, which owns the directory.  It is stopped by the PID in its
``postmaster.pid`` (SIGINT, PostgreSQL's fast shutdown; SIGKILL if it lingers)
and its directory removed.  ``postgres_url`` gives each test a database of its
own on it.  Without the binaries, the tests that use them are skipped with one
line saying so (``make test`` installs them through scripts/system-deps.sh).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import scaled


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


INITDB = _binary("initdb")
PG_CTL = _binary("pg_ctl")
PSQL = _binary("psql")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One private PostgreSQL server; ``stop`` and ``start`` keep its port and data."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rooms-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = _free_port()
        self.user: str | None = None
        self._databases = itertools.count(1)
        if os.geteuid() == 0:  # initdb refuses to run as root
            self.user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run([INITDB, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])

    def _run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, user=self.user, cwd=self.dir, capture_output=True, text=True, timeout=scaled(60), **kwargs)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        return done

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c full_page_writes=off"
        self._run([PG_CTL, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", str(int(scaled(30))), "start"])

    def stop(self) -> None:
        """Stop the server by its PID (fast shutdown), and wait until it is gone."""
        pid = self.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + scaled(15)
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + scaled(5)
            time.sleep(0.02)  # polling: another process's death gives this one no event
        # A SIGKILLed postmaster leaves its pid file: remove it so start() works again.
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def sql(self, command: str, database: str = "postgres") -> str:
        """Run *command* with psql; its output."""
        return self._run([PSQL, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-XAtq", "-c", command]).stdout

    def new_database(self) -> str:
        name = f"test_{os.getpid()}_{next(self._databases)}"
        self.sql(f"CREATE DATABASE {name}")
        return name

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child still answers kill(0): pg_ctl's server is not our child, so this is enough.
    return True


@pytest.fixture(scope="session")
def postgres_server():
    if INITDB is None or PG_CTL is None or PSQL is None:
        pytest.skip("PostgreSQL is not installed (make test installs the postgresql package through scripts/system-deps.sh)")
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database on the session's server (which is running again if a test stopped it)."""
    if postgres_server.pid is None:
        postgres_server.start()
    return postgres_server.url(postgres_server.new_database())
