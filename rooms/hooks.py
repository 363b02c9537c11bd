"""Calling an application's hooks (``on_resume``, ``on_spectate``), which may be
plain functions or coroutines, and running one in the background."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["call_hook", "in_background"]

logger = logging.getLogger("rooms")

_RUNNING: set[asyncio.Task[None]] = set()


async def call_hook(hook: Callable[..., Any] | None, *args: Any, default: Any) -> Any:
    """``hook(*args)``, awaited when it gives an awaitable; *default* without a hook."""
    if hook is None:
        return default
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def in_background(coro: Coroutine[Any, Any, None], what: str) -> None:
    """Run *coro* as a task held until it is done (the loop keeps only a weak
    reference to a task); an exception in it is logged as an error in *what*."""

    async def run() -> None:
        try:
            await coro
        except Exception:
            logger.exception("error in %s", what)

    task = asyncio.get_running_loop().create_task(run())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
