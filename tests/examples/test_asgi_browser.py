"""``uvicorn examples.server:asgi_app`` serves the example site as ``make run``
does: two Chromium pages are matched and play chess to checkmate, one reloads
mid-game and takes its seat back, a spectator opens the game's link late.  The
same page steps as tests/examples/test_browser.py (tests/examples/pages.py), on a uvicorn process."""

from __future__ import annotations

import re

import pytest

from tests.browser import chromium, needs_chromium
from tests.support.asgi import asgi_process

from .pages import board_of, click_move, drag_move, new_page

pytestmark = needs_chromium
pytest.importorskip("uvicorn")


@pytest.fixture
async def browser():
    async with chromium() as browser:
        yield browser


async def test_chess_in_chromium_through_uvicorn(browser, tmp_path) -> None:
    from playwright.async_api import expect

    with asgi_process("uvicorn", "examples.server:asgi_app", tmp_path) as proc:
        base = f"http://127.0.0.1:{proc.port}"
        index, index_errors = await new_page(browser, base, "/")
        await expect(index.locator("#chess-link")).to_be_visible()
        pages = [(index, index_errors)]
        players = []
        for name in ["alice", "bob"]:
            page, errors = await new_page(browser, base, "/chess/")
            await page.fill("#name", name)
            await page.click("#play")
            players.append(page)
            pages.append((page, errors))
            if name == "alice":
                await expect(page.locator("#status")).to_contain_text("Waiting for an opponent (1 of 2)")
        for page in players:
            await expect(board_of(page)).to_have_attribute("data-color", re.compile(r"^(white|black)$"))
        by_color = {await board_of(p).get_attribute("data-color"): p for p in players}
        white, black = by_color["white"], by_color["black"]
        await expect(white.locator("#status")).to_contain_text("Your move (white)")

        moves = ["e2e4", "e7e5", "f1c4", "b8c6", "d1h5", "g8f6"]
        for i, move in enumerate(moves):
            page = white if i % 2 == 0 else black
            await expect(page.locator("#status")).to_contain_text("Your move")
            if i % 2:
                await drag_move(page, move)
            else:
                await click_move(page, move)
            await expect(white.locator("#moves li span")).to_have_count(i + 1)
            await expect(black.locator("#moves li span")).to_have_count(i + 1)
        fen = await board_of(white).get_attribute("data-fen")
        assert fen.startswith("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w")

        # black reloads: the stored seat token brings it back through uvicorn
        await black.reload()
        await expect(board_of(black)).to_have_attribute("data-fen", fen)
        await expect(board_of(black)).to_have_attribute("data-color", "black")
        await expect(white.locator("#notice")).to_contain_text("is back")

        watch = await white.locator("#watch-link").get_attribute("href")
        spectator, spectator_errors = await new_page(browser, base, watch)
        await expect(board_of(spectator)).to_have_attribute("data-fen", fen)
        await expect(spectator.locator("#status")).to_contain_text("Watching")
        pages.append((spectator, spectator_errors))

        await click_move(white, "c4c8")
        await expect(white.locator("#notice")).to_contain_text("cannot move from c4 to c8")
        await click_move(white, "h5f7")
        for page in (white, black, spectator):
            await expect(page.locator("#status")).to_contain_text("Game over: 1-0")
            await expect(page.locator("#status")).to_contain_text("checkmate")
        for _, errors in pages:
            assert errors == []
