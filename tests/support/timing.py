"""How long a test waits: every bound on a wait is ``scaled(seconds)``.

A bound is how long a test waits for something that should happen much sooner;
on a slow or loaded machine it is the bound that must grow, never what the test
checks.  One factor multiplies them all, as websockets' tests do with their
``MS`` unit: ``WS_TEST_TIMEOUT_FACTOR`` when set (any number above 0), otherwise
1, doubled under CI (``CI`` set), on a machine with two CPUs or fewer, and under
asyncio's debug mode or coverage, each of which slows the event loop.

Durations that are what a test checks (a grace time, a ``timeout=`` option of
the code under test, "nothing arrives within 0.1 s") are written as they are.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

__all__ = ["FACTOR", "FACTOR_REASONS", "TIMEOUT", "eventually", "eventually_blocking", "scaled"]

ENV = "WS_TEST_TIMEOUT_FACTOR"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _factor() -> tuple[float, list[str]]:
    """The factor and the reasons for it, for the report header."""
    raw = os.environ.get(ENV, "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = 0.0
        if not value > 0:
            raise RuntimeError(f"{ENV} must be a number above 0, not {raw!r}")
        return value, [f"{ENV}={raw}"]
    factor, reasons = 1.0, []
    if _flag("CI"):
        factor, reasons = factor * 2, [*reasons, "CI"]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpus <= 2:
        factor, reasons = factor * 2, [*reasons, f"{cpus} CPU"]
    if _flag("PYTHONASYNCIODEBUG") or sys.flags.dev_mode:
        factor, reasons = factor * 2, [*reasons, "asyncio debug"]
    if _flag("COVERAGE_RUN") or "COV_CORE_SOURCE" in os.environ:
        factor, reasons = factor * 2, [*reasons, "coverage"]
    return factor, reasons


FACTOR, FACTOR_REASONS = _factor()


def scaled(seconds: float) -> float:
    """*seconds* times the factor: the bound to write wherever a test waits."""
    return seconds * FACTOR


TIMEOUT = scaled(5.0)  # the default bound on one wait; tests normally finish far sooner


async def eventually(
    predicate: Callable[[], object | Awaitable[object]], timeout: float = TIMEOUT, *, interval: float = 0.05
) -> None:
    """Poll *predicate* (sync or async) until it is true; fail after *timeout* seconds.

    The first polls come quickly (1 ms, then doubling up to *interval*), so a
    condition that is almost met costs almost nothing, and a slow one (a Redis
    query, another process's state) is not asked a thousand times a second.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout:g} s: {getattr(predicate, '__qualname__', predicate)}")
        await asyncio.sleep(min(pause, interval, max(0.0, deadline - time.monotonic())))
        pause *= 2


def eventually_blocking(predicate: Callable[[], object], timeout: float = TIMEOUT, *, interval: float = 0.05) -> None:
    """:func:`eventually` for synchronous code (a fixture waiting for a process to
    start): poll *predicate* until it is true, blocking; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout:g} s: {getattr(predicate, '__qualname__', predicate)}")
        time.sleep(min(pause, interval, max(0.0, deadline - time.monotonic())))
        pause *= 2
