"""The chess page as a new player meets it (issue 15), in headless Chromium: waiting
and cancelling, private codes and invite links, the way back from a dead code, the
clock that starts with White's first move, game-over lines, refused clicks, a name
typed while the page loads, favicons, and a phone-wide screen."""

from __future__ import annotations

import asyncio
import re

from examples.server import make_site
from tests.browser import ARTIFACTS, chromium, needs_chromium
from tests.support import running

from .pages import Tab, board_of, box, click_move, open_tab, wait_until

pytestmark = needs_chromium

CLIPBOARD = ("clipboard-read", "clipboard-write")


def chess_site(**time_controls: tuple[float, float]):
    return make_site(time_controls=time_controls or {"5+0": (300, 0)}, chess_options={"reconnect": 5.0})


async def join(tab: Tab, name: str, button: str = "#play", mode: str | None = None) -> None:
    from playwright.async_api import expect

    page = tab.page
    await expect(page.locator("#mode option").first).to_be_attached()  # the config is in
    await page.fill("#name", name)
    if mode is not None:
        await page.select_option("#mode", mode)
    await page.click(button)


async def by_color(*tabs: Tab) -> tuple[Tab, Tab]:
    """The two players' tabs once their game has started, as ``(white, black)``."""
    from playwright.async_api import expect

    for tab in tabs:
        await expect(board_of(tab.page)).to_have_attribute("data-color", re.compile(r"^(white|black)$"))
    colors = {await board_of(t.page).get_attribute("data-color"): t for t in tabs}
    return colors["white"], colors["black"]


async def resign(tab: Tab) -> None:
    tab.page.once("dialog", lambda dialog: dialog.accept())
    await tab.page.click("#resign")


async def test_waiting_offers_cancel_not_resign_and_cancel_leaves_the_queue(browser) -> None:
    from playwright.async_api import expect

    site = chess_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        alice = await open_tab(browser, base, "/chess/")
        await join(alice, "alice")
        page = alice.page
        await expect(page.locator("#status")).to_contain_text("Waiting for an opponent (1 of 2)")
        for button in ("#resign", "#offer-draw"):
            await expect(page.locator(button)).to_be_hidden()
        await expect(page.locator("#cancel")).to_be_visible()
        await wait_until(lambda: site.chess.waiting() == 1)
        await page.click("#cancel")
        await expect(page.locator("#join")).to_be_visible()
        await expect(page.locator("#game")).to_be_hidden()
        await wait_until(lambda: site.chess.waiting() == 0)  # alice left the queue
        # bob waits alone: alice is not in the queue any more
        bob = await open_tab(browser, base, "/chess/")
        await join(bob, "bob")
        await expect(bob.page.locator("#status")).to_contain_text("Waiting for an opponent (1 of 2)")
        # alice plays again from the same page, without a reload, and meets bob
        await expect(page.locator("#name")).to_have_value("alice")
        await page.click("#play")
        white, black = await by_color(alice, bob)
        for tab in (white, black):
            await expect(tab.page.locator("#resign")).to_be_visible()
            await expect(tab.page.locator("#offer-draw")).to_be_visible()
            await expect(tab.page.locator("#cancel")).to_be_hidden()
        assert alice.errors == [] and bob.errors == []


async def test_a_private_code_joined_from_a_page_that_shows_another_time_control(browser) -> None:
    from playwright.async_api import expect

    site = chess_site(**{"3+2": (180, 2), "10+0": (600, 0)})
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        alice = await open_tab(browser, base, "/chess/", permissions=CLIPBOARD)
        await join(alice, "alice", "#private", mode="3+2")
        page = alice.page
        link = page.locator("#invite-link")
        await expect(link).to_be_visible()
        await expect(link).to_have_attribute("href", re.compile(re.escape(base) + r"/chess/\?code=[A-Z2-9]{6}$"))
        href = await link.get_attribute("href")
        code = href.rsplit("=", 1)[1]
        await expect(page.locator("#invite-code")).to_have_text(code)
        await expect(page.locator("#status")).to_contain_text(f"Private game {code}")
        assert (await box(page, "#invite-link"))["height"] < 24  # one line, never a wrapped URL
        for button in ("#resign", "#offer-draw"):
            await expect(page.locator(button)).to_be_hidden()
        await page.click("#copy-invite")
        await expect(page.locator("#copy-invite")).to_have_text("Copied")
        assert await page.evaluate("navigator.clipboard.readText()") == href

        # bob opens the invite link in his own browser: no name known yet, so the
        # form shows the code; his page shows another time control
        bob = await open_tab(browser, base, None)
        await bob.page.goto(href)
        await expect(bob.page.locator("#join")).to_be_visible()
        await expect(bob.page.locator("#code")).to_have_value(code)
        await join(bob, "bob", "#join-code", mode="10+0")
        white, black = await by_color(alice, bob)
        for tab in (white, black):
            await expect(tab.page.locator("#info")).to_contain_text("3+2")  # the creator's choice
            await expect(tab.page.locator("#top-clock")).to_have_text("3:00")
            await expect(tab.page.locator("#bottom-clock")).to_have_text("3:00")
        names = {await board_of(t.page).get_attribute("data-color"): t for t in (alice, bob)}
        assert set(names) == {"white", "black"}
        assert alice.errors == [] and bob.errors == []


async def test_an_unknown_or_finished_code_offers_the_way_back(browser) -> None:
    from playwright.async_api import expect

    site = chess_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        carol = await open_tab(browser, base, "/chess/?code=ZZZZZZ&name=carol")
        page = carol.page
        await expect(page.locator("#status")).to_contain_text("No such game")
        await expect(page.locator("#back-link")).to_be_visible()
        for hidden in ("#resign", "#offer-draw", "#cancel"):
            await expect(page.locator(hidden)).to_be_hidden()
        await page.click("#back-link")
        await expect(page.locator("#join")).to_be_visible()
        assert page.url == base + "/chess/"
        await expect(page.locator("#name")).to_have_value("carol")

        # a code whose game is over
        alice = await open_tab(browser, base, "/chess/")
        await join(alice, "alice", "#private")
        await expect(alice.page.locator("#invite-code")).to_have_text(re.compile(r"^[A-Z2-9]{6}$"))
        code = await alice.page.locator("#invite-code").text_content()
        bob = await open_tab(browser, base, "/chess/")
        await bob.page.fill("#code", code)
        await join(bob, "bob", "#join-code")
        white, black = await by_color(alice, bob)
        await resign(white)
        await expect(black.page.locator("#after")).to_be_visible()
        await black.page.click("#leave")
        await expect(black.page.locator("#join")).to_be_visible()
        await wait_until(lambda: not site.chess.rooms)
        await page.fill("#code", code)
        await page.click("#join-code")
        await expect(page.locator("#status")).to_contain_text("No such game")
        await expect(page.locator("#back-link")).to_be_visible()
        await page.click("#back-link")
        await expect(page.locator("#join")).to_be_visible()
        assert carol.errors == [] and alice.errors == [] and bob.errors == []


async def test_clocks_start_with_whites_first_move_clicks_are_answered_and_game_over_speaks_to_each(browser) -> None:
    from playwright.async_api import expect

    site = chess_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        alice = await open_tab(browser, base, "/chess/")
        await join(alice, "alice")
        await expect(alice.page.locator("#status")).to_contain_text("Waiting for an opponent")
        bob = await open_tab(browser, base, "/chess/")
        await join(bob, "bob")
        white, black = await by_color(alice, bob)
        w, b = white.page, black.page

        # no clock runs before White's first move
        for page in (w, b):
            await expect(page.locator("#first-move")).to_contain_text("The clocks start with White's first move")
            for clock in ("#top-clock", "#bottom-clock"):
                await expect(page.locator(clock)).to_have_text("5:00")
                await expect(page.locator(clock)).not_to_have_class(re.compile(r"\brunning\b"))

        # a click that cannot act says why
        await b.click('[data-square="e7"]')  # black's own pawn, but White is to move
        await expect(b.locator("#notice")).to_have_text("Not your turn: White to move.")
        await w.click('[data-square="e7"]')
        await expect(w.locator("#notice")).to_have_text("That is a black piece: you play white.")

        await click_move(w, "e2e4")
        await expect(w.locator("#top-clock")).to_have_class(re.compile(r"\brunning\b"))  # Black's
        await expect(b.locator("#bottom-clock")).to_have_class(re.compile(r"\brunning\b"))
        await expect(w.locator("#bottom-clock")).to_have_text("5:00")  # White lost no time
        await expect(w.locator("#bottom-clock")).not_to_have_class(re.compile(r"\brunning\b"))
        await expect(w.locator("#first-move")).to_be_hidden()
        await expect(b.locator("#notice")).to_be_hidden()  # Black's turn now: the notice is gone

        # the spectator link reads "watch this game", on one line
        watch = w.locator("#watch-link")
        await expect(watch).to_have_text("watch this game")
        assert (await box(w, "#watch-link"))["height"] < 24
        href = await watch.get_attribute("href")
        spectator = await open_tab(browser, base, href)
        s = spectator.page
        await expect(board_of(s)).to_have_attribute("data-color", "spectator")
        await s.click('[data-square="e4"]')
        await expect(s.locator("#notice")).to_contain_text("spectators cannot move")

        await resign(black)
        await expect(w.locator("#status")).to_have_text("Game over: 1-0 — You won (your opponent resigned)")
        await expect(b.locator("#status")).to_have_text("Game over: 1-0 — You lost (you resigned)")
        white_name = await w.locator("#bottom-name").text_content()
        await expect(s.locator("#status")).to_have_text(
            f"Game over: 1-0 — {white_name.split()[1]} (white) won (Black resigned)"
        )
        await expect(w.locator("#status")).to_have_class(re.compile(r"\bwon\b"))
        await expect(b.locator("#status")).to_have_class(re.compile(r"\blost\b"))
        await b.click('[data-square="d7"]')
        await expect(b.locator("#notice")).to_have_text("The game is over.")

        # a rematch (colours swap) ends in a draw by agreement
        await w.click("#rematch")
        await b.click("#rematch")
        await expect(board_of(w)).to_have_attribute("data-color", "black")
        await expect(board_of(b)).to_have_attribute("data-color", "white")
        await b.click("#offer-draw")
        await expect(w.locator("#draw-offer")).to_be_visible()
        await w.click("#accept-draw")
        for page in (w, b):
            await expect(page.locator("#status")).to_have_text("Game over: 1/2-1/2 — Draw (by agreement)")
        ARTIFACTS.mkdir(exist_ok=True)
        await w.screenshot(path=str(ARTIFACTS / "chess-draw.png"))
        for tab in (white, black, spectator):
            assert tab.errors == []


async def test_a_name_typed_before_the_config_arrives_is_kept(browser) -> None:
    from playwright.async_api import expect

    site = chess_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        tab = await open_tab(browser, base, None)
        page = tab.page
        asked, release = asyncio.Event(), asyncio.Event()

        async def hold(route) -> None:
            asked.set()
            await release.wait()
            await route.continue_()

        await page.route("**/chess/config", hold)
        await page.goto(base + "/chess/", wait_until="commit")
        await asyncio.wait_for(asked.wait(), 10)  # the page is waiting for its config
        await page.fill("#name", "zoe")
        release.set()
        await expect(page.locator("#mode option")).to_have_count(1)
        await expect(page.locator("#name")).to_have_value("zoe")
        await page.click("#play")
        await expect(page.locator("#status")).to_contain_text("Waiting for an opponent")
        assert await page.evaluate("localStorage.getItem('chess:name')") == "zoe"
        assert tab.errors == []


async def test_every_page_declares_a_favicon_and_a_fresh_browser_logs_no_error() -> None:
    site = chess_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        for path in ("/", "/chess/", "/chat/"):
            # A fresh browser for each page: Chromium remembers a missing favicon
            # across the contexts of one browser, and would not ask again.
            async with chromium() as fresh:
                tab = await open_tab(fresh, base, None)
                failed: list[str] = []
                tab.page.on("response", lambda r, failed=failed: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
                await tab.page.goto(base + path)
                await tab.page.wait_for_load_state("networkidle")
                assert await tab.page.locator('head link[rel="icon"]').count() == 1, path
                assert (failed, tab.console, tab.errors) == ([], [], []), path


async def test_the_chess_page_fits_a_phone_wide_screen(browser) -> None:
    from playwright.async_api import expect

    site = chess_site()
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        tabs = [await open_tab(browser, base, "/chess/", width=390, height=844) for _ in range(2)]
        await join(tabs[0], "alice")
        await expect(tabs[0].page.locator("#status")).to_contain_text("Waiting for an opponent")
        await join(tabs[1], "bob")
        white, _ = await by_color(*tabs)
        page = white.page
        await expect(page.locator("#status")).to_contain_text("Your move")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out
        board, side = await box(page, "#board"), await box(page, ".side")
        assert board["x"] >= 0 and board["x"] + board["width"] <= 390 and board["width"] >= 320
        assert side["y"] >= board["y"] + board["height"] and side["x"] + side["width"] <= 390
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "chess-390.png"), full_page=True)
