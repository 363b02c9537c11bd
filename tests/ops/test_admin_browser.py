"""The admin page in headless Chromium: refused (401) and asking for the token,
then signed in it shows the lobby's queue by mode, a room's players, spectator,
age and state, and its buttons remove a player and end a room."""

from __future__ import annotations

import pytest

from tests.browser import chromium, needs_chromium
from tests.examples.pages import open_tab
from tests.support import Bot, eventually, running, scaled

from .helpers import TOKEN, pair, tictactoe_site

pytestmark = [needs_chromium, pytest.mark.timeout(scaled(90))]


async def test_the_admin_page_in_chromium() -> None:
    from playwright.async_api import expect

    app, lobby = tictactoe_site(mode=lambda request: request.query.get("mode", "classic"))
    async with running(app) as server, chromium() as browser:
        base = f"http://127.0.0.1:{server.port}"
        x, o = await pair(server, names=("xavier", "<b>olga</b>"))
        x.send({"cell": 4})
        await o.recv_type("move")
        watcher = await Bot.connect(server, "/tictactoe", watch=x.matched["room"])  # type: ignore[index]
        await watcher.recv_type("spectating")
        waiting = await Bot.connect(server, "/tictactoe", name="w", mode="blitz")
        await waiting.recv_type("lobby")

        tab = await open_tab(browser, base, None)
        page = tab.page
        response = await page.goto(base + "/admin/")
        assert response.status == 401
        await page.fill("#token", "not the token")
        await page.click("#signin")
        await expect(page.locator(".error")).to_have_text("Wrong token.")
        await page.fill("#token", TOKEN)
        await page.click("#signin")

        section = page.locator('section.lobby[data-lobby="tictactoe"]')
        await expect(section.locator('tr[data-mode="blitz"] .waiting')).to_have_text("1")
        await expect(section.locator('tr[data-mode="classic"] .waiting')).to_have_text("0")
        room = section.locator(f'tr.room[data-room="{x.matched["room"]}"]')  # type: ignore[index]
        await expect(room.locator(".player .name")).to_have_text(["xavier", "<b>olga</b>"])  # text, not markup
        await expect(room.locator(".spectators")).to_have_text("1")
        await expect(room.locator(".age")).to_contain_text(" s")
        await room.locator("summary").click()
        await expect(room.locator("pre.state")).to_contain_text('"turn": 1')
        await expect(page.locator("h2")).to_contain_text("(this one)")

        await room.locator('.player[data-seat="1"] button.remove').click()
        await expect(page.locator("#message")).to_contain_text("Done: remove")
        messages, closed = await o.messages_until_closed()
        assert messages[-1]["error"] == "removed" and closed.code == 1000
        messages, closed = await x.messages_until_closed()  # the game saw its player leave: over
        assert messages[-1]["type"] == "ended" and messages[-1]["result"]["reason"] == "player_left"
        await expect(room).to_have_count(0)

        a, b = await pair(server, names=("a", "b"))
        second = section.locator(f'tr.room[data-room="{a.matched["room"]}"]')  # type: ignore[index]
        await second.locator("button.end").click()
        for bot in (a, b):
            messages, closed = await bot.messages_until_closed()
            assert messages[-1]["result"]["reason"] == "ended_by_operator" and closed.code == 1000
        await expect(second).to_have_count(0)
        await eventually(lambda: lobby.stats.finished == {"player_left": 1, "operator": 1}, scaled(5))
        await expect(section).to_contain_text("rooms finished: operator 1, player_left 1")

        await page.click("text=Sign out")
        await expect(page.locator("#token")).to_be_visible()
        for bot in (watcher, waiting):
            await bot.aclose()
        # Chromium logs each 401 (the sign-in form, before and after); nothing else.
        assert tab.errors == [] and [line for line in tab.console if "status of 401" not in line] == []
