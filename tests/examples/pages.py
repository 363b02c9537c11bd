"""Playwright helpers for the chess page (the same steps as tests/examples/test_browser.py
takes), for the browser tests that run the page against another server."""

from __future__ import annotations

from typing import Any

from tests.support import scaled

__all__ = ["TIMEOUT_MS", "board_of", "click_move", "drag_move", "new_page"]

TIMEOUT_MS = round(scaled(10) * 1000)  # Playwright counts in milliseconds


async def new_page(browser: Any, base: str, path: str) -> tuple[Any, list[str]]:
    """A page of its own context at *base* + *path*, and the list its page errors go to."""
    context = await browser.new_context(viewport={"width": 1000, "height": 760})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(base + path)
    return page, errors


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
