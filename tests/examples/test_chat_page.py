"""The chat page as a new player meets it (issue 15), in headless Chromium: a
phone-wide screen, and the message length limit in the input itself."""

from __future__ import annotations

from examples.server import make_site
from tests.browser import ARTIFACTS, needs_chromium
from tests.support import running

from .pages import Tab, box, open_tab

pytestmark = needs_chromium

PHONE = {"width": 390, "height": 844}


async def enter_room(tab: Tab, nick: str, room: str = "lounge") -> None:
    from playwright.async_api import expect

    await tab.page.fill("#nick", nick)
    await tab.page.fill("#room-name", room)
    await tab.page.click("#join-room")
    await expect(tab.page.locator("#text")).to_be_enabled()


async def test_on_a_phone_wide_screen_the_log_gets_the_width_and_the_people_go_below(browser) -> None:
    from playwright.async_api import expect

    async with running(make_site().app) as server:
        base = f"http://127.0.0.1:{server.port}"
        alice = await open_tab(browser, base, "/chat/", **PHONE)
        page = alice.page
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # the form fits
        await enter_room(alice, "alice")
        bob = await open_tab(browser, base, "/chat/", **PHONE)
        await enter_room(bob, "bob")
        await expect(page.locator("#people li")).to_have_count(2)
        await page.fill("#text", "A long line to see the input keep its place on a narrow screen, " * 2)
        log, people = await box(page, "#log"), await box(page, ".people")
        assert log["width"] >= 390 - 2 * 16  # the whole width but the margins (it was 134 px)
        assert people["y"] >= log["y"] + log["height"]  # below the log, not beside it
        assert people["x"] + people["width"] <= 390
        for part in ("#text", "#send", "#count"):
            found = await box(page, part)
            assert found["x"] >= 0 and found["x"] + found["width"] <= 390, part  # nothing overflows
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.press("#text", "Enter")
        await expect(bob.page.locator("#log .text")).to_have_count(1)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "chat-390.png"))
        assert alice.errors == [] and bob.errors == []


async def test_the_input_has_the_servers_maxlength_and_send_is_disabled_past_it(browser) -> None:
    from playwright.async_api import expect

    site = make_site(chat_options={"max_text": 20})
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        alice = await open_tab(browser, base, "/chat/")
        await enter_room(alice, "alice")
        page = alice.page
        text, send, count = page.locator("#text"), page.locator("#send"), page.locator("#count")
        await expect(text).to_have_attribute("maxlength", "20")  # the limit from the welcome
        await text.press_sequentially("x" * 25)  # typing stops at the limit
        await expect(text).to_have_value("x" * 20)
        await expect(count).to_have_text("20/20")
        await expect(send).to_be_enabled()

        # past the limit (a script, or a paste where maxlength does not apply): Send is disabled
        await page.evaluate("""() => {
            const input = document.getElementById("text");
            input.value = "y".repeat(21);
            input.dispatchEvent(new Event("input"));
        }""")
        await expect(send).to_be_disabled()
        await expect(count).to_have_text("21/20")
        await expect(count).to_have_class("count over")
        await text.press("Enter")  # refused on the page, not sent

        # characters are counted as the server counts them: an emoji is one
        await page.evaluate("""() => {
            const input = document.getElementById("text");
            input.value = "\\u{1F600}".repeat(20);
            input.dispatchEvent(new Event("input"));
        }""")
        await expect(count).to_have_text("20/20")
        await expect(send).to_be_enabled()
        await send.click()
        await expect(page.locator("#log .text")).to_have_text(["\U0001F600" * 20])  # the only line sent
        await expect(text).to_have_value("")
        await expect(send).to_be_enabled()
        assert alice.errors == []
