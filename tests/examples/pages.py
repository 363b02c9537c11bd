"""Helpers for the browser tests of the example pages: tabs in headless Chromium
(Debian's, through Playwright), chess moves by click and drag, and waits on state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from tests.support import eventually, scaled

__all__ = ["TIMEOUT_MS", "Tab", "open_tab", "new_page", "board_of", "click_move", "drag_move", "wait_until", "box"]

TIMEOUT_MS = round(scaled(10) * 1000)  # Playwright counts in milliseconds


@attrs.define(slots=True)
class Tab:
    """A page in its own browser context (its own storage, as another person's
    browser), with what it logged: uncaught errors and console errors."""

    page: Any
    errors: list[str] = attrs.field(factory=list)
    console: list[str] = attrs.field(factory=list)


async def open_tab(
    browser: Any, base: str, path: str | None, *, width: int = 1000, height: int = 760, permissions: Iterable[str] = ()
) -> Tab:
    """A new context and page of *width* x *height*, at *base* + *path* (None: not yet)."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    if permissions:
        await context.grant_permissions(list(permissions), origin=base)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    tab = Tab(page)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("console", lambda msg: tab.console.append(msg.text) if msg.type == "error" else None)
    if path is not None:
        await page.goto(base + path)
    return tab


async def new_page(browser: Any, base: str, path: str):
    """``(page, uncaught errors)`` at *path*, 1000 x 760."""
    tab = await open_tab(browser, base, path)
    return tab.page, tab.errors


def board_of(page: Any) -> Any:
    return page.locator("#board")


async def click_move(page: Any, move: str) -> None:
    await page.click(f'[data-square="{move[:2]}"]')
    await page.click(f'[data-square="{move[2:4]}"]')


async def drag_move(page: Any, move: str) -> None:
    start = await page.locator(f'[data-square="{move[:2]}"]').bounding_box()
    end = await page.locator(f'[data-square="{move[2:4]}"]').bounding_box()
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end["x"] + 5, end["y"] + 5, steps=5)
    await page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=3)
    await page.mouse.up()


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT_MS / 1000) -> None:
    """Wait for a condition on the server's side (a lobby's queue, say), checking it
    each event-loop turn or so: the server runs in this process, the page in Chromium."""
    await eventually(condition, timeout)


async def box(page: Any, selector: str) -> dict[str, float]:
    """The bounding box of *selector*, in CSS pixels of the viewport."""
    found = await page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found
