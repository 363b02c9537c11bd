"""End to end in headless Chromium (Debian's, never a downloaded one) through Playwright:
two pages are matched and play chess by clicking and dragging; two pages chat."""

from __future__ import annotations

import re

from examples.server import make_site
from tests.browser import ARTIFACTS, needs_chromium
from tests.support import running

from .pages import board_of, click_move, drag_move, new_page

pytestmark = needs_chromium


async def test_chess_two_pages_are_matched_and_play_by_clicking(browser) -> None:
    from playwright.async_api import expect

    site = make_site(time_controls={"5+0": (300, 0)}, chess_options={"reconnect": 10.0})
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        pages = []
        for name in ["alice", "bob"]:
            page, errors = await new_page(browser, base, "/chess/")
            await page.fill("#name", name)
            await page.click("#play")
            pages.append((page, errors))
            if name == "alice":
                await expect(page.locator("#status")).to_contain_text("Waiting for an opponent (1 of 2)")
        for page, _ in pages:
            await expect(board_of(page)).to_have_attribute("data-color", re.compile(r"^(white|black)$"))
        by_color = {await board_of(p).get_attribute("data-color"): p for p, _ in pages}
        white, black = by_color["white"], by_color["black"]
        await expect(white.locator("#status")).to_contain_text("Your move (white)")
        await expect(black.locator('[data-square="a1"]')).to_be_visible()

        moves = ["e2e4", "e7e5", "f1c4", "b8c6", "d1h5", "g8f6"]
        for i, move in enumerate(moves):
            page = white if i % 2 == 0 else black
            await expect(page.locator("#status")).to_contain_text("Your move")
            if i % 2:
                await drag_move(page, move)  # black drags
            else:
                await click_move(page, move)  # white clicks
            await expect(white.locator("#moves li span")).to_have_count(i + 1)
            await expect(black.locator("#moves li span")).to_have_count(i + 1)
        fen = await board_of(white).get_attribute("data-fen")
        assert fen.startswith("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w")
        await expect(board_of(black)).to_have_attribute("data-fen", fen)

        # black reloads the page: the stored seat token brings it back to the same game
        await black.reload()
        await expect(board_of(black)).to_have_attribute("data-fen", fen)
        await expect(board_of(black)).to_have_attribute("data-color", "black")
        await expect(black.locator("#moves li span")).to_have_count(6)
        await expect(white.locator("#notice")).to_contain_text("is back")

        # a spectator opens the game's link late and sees the same position
        watch = await white.locator("#watch-link").get_attribute("href")
        spectator, spectator_errors = await new_page(browser, base, watch)
        await expect(board_of(spectator)).to_have_attribute("data-fen", fen)
        await expect(board_of(spectator)).to_have_attribute("data-color", "spectator")
        await expect(spectator.locator("#status")).to_contain_text("Watching")
        pages.append((spectator, spectator_errors))

        # an illegal move is refused with a reason
        await click_move(white, "c4c8")
        await expect(white.locator("#notice")).to_contain_text("cannot move from c4 to c8")

        await click_move(white, "h5f7")
        for page in (white, black, spectator):
            await expect(page.locator("#status")).to_contain_text("Game over: 1-0")
            await expect(page.locator("#status")).to_contain_text("checkmate")
        await expect(white.locator("#after")).to_be_visible()
        async with white.expect_download() as info:
            await white.click("#download")
        download = await info.value
        ARTIFACTS.mkdir(exist_ok=True)
        await download.save_as(ARTIFACTS / "chess.pgn")
        assert (ARTIFACTS / "chess.pgn").read_text().rstrip().endswith("4. Qxf7# 1-0")
        await expect(board_of(black)).to_have_attribute("data-fen", await board_of(white).get_attribute("data-fen"))
        await white.screenshot(path=str(ARTIFACTS / "chess.png"))
        await black.screenshot(path=str(ARTIFACTS / "chess-black.png"))
        for _, errors in pages:
            assert errors == []


async def test_chat_two_pages_exchange_messages(browser) -> None:
    from playwright.async_api import expect

    site = make_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        alice, alice_errors = await new_page(browser, base, "/chat/")
        await alice.fill("#nick", "alice")
        await alice.fill("#room-name", "lounge")
        await alice.click("#join-room")
        await expect(alice.locator("#people li")).to_have_count(1)
        bob, bob_errors = await new_page(browser, base, "/chat/")
        await expect(bob.locator("#open-rooms")).to_contain_text("lounge")
        await bob.fill("#nick", "bob")
        await bob.fill("#room-name", "lounge")
        await bob.click("#join-room")
        for page in (alice, bob):
            await expect(page.locator("#people li")).to_have_count(2)
        await expect(alice.locator("#log")).to_contain_text("bob joined")

        await alice.fill("#text", "Hello Bob! Fancy a game of chess?")
        await alice.press("#text", "Enter")
        await expect(bob.locator("#log li.me, #log li:not(.event)")).to_contain_text(["Hello Bob! Fancy a game of chess?"])
        await bob.fill("#text", "Sure, 5+0 in a minute.")
        await bob.click("#send")
        for page in (alice, bob):
            await expect(page.locator("#log .text")).to_have_text(["Hello Bob! Fancy a game of chess?", "Sure, 5+0 in a minute."])
        # the flood limit answers with a notice
        for i in range(8):
            await bob.fill("#text", f"spam {i}")
            await bob.press("#text", "Enter")
        await expect(bob.locator("#notice")).to_contain_text("slow down")
        ARTIFACTS.mkdir(exist_ok=True)
        await bob.screenshot(path=str(ARTIFACTS / "chat-flood.png"))
        await alice.fill("#text", "Easy there :)")
        await alice.press("#text", "Enter")
        await expect(bob.locator("#log .text").last).to_have_text("Easy there :)")
        ARTIFACTS.mkdir(exist_ok=True)
        await alice.screenshot(path=str(ARTIFACTS / "chat.png"))
        await bob.screenshot(path=str(ARTIFACTS / "chat-bob.png"))
        await bob.click("#leave")
        await expect(alice.locator("#log")).to_contain_text("bob left")
        await expect(alice.locator("#people li")).to_have_count(1)
        assert alice_errors == [] and bob_errors == []
