"""Server subprocesses for the benchmark and conformance harnesses: wait until one
accepts connections, stop it by its PID only, show the end of its log."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_accepting(
    proc: subprocess.Popen[bytes], host: str, port: int, log: Path, timeout: float, error: type[Exception]
) -> None:
    """Return once *proc* accepts TCP connections on host:port; raise *error* if it
    exits or is not accepting within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"server exited with code {proc.returncode}\n{log_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise error(f"server not accepting on {host}:{port} after {timeout:.0f} s\n{log_tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the one process started here: SIGTERM, then SIGKILL, by its PID only."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)
