"""Headless Chromium for the end-to-end tests: Debian's ``chromium`` (installed by
``make test`` through scripts/system-deps.sh), never a downloaded browser build."""

from __future__ import annotations

import contextlib
import pathlib
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium" if pathlib.Path("/usr/bin/chromium").exists() else shutil.which("chromium")
ARTIFACTS = pathlib.Path(__file__).resolve().parent / "artifacts"
# Without the background-networking flags Chromium tries to reach Google's hosts,
# which a closed network refuses at every start.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A launched Playwright browser on Debian's Chromium, closed on exit."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()
