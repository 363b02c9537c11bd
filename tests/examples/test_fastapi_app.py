"""examples/fastapi_app.py: the login (form, session cookie, logout, bearer
tokens) and the games it mounts, under uvicorn in this process; two logged-in
Chromium pages play its tic-tac-toe page to the end."""

from __future__ import annotations

import json

import pytest

from tests.asgi.helpers import bot, form_post, http, login_cookie
from tests.browser import chromium, needs_chromium
from tests.support import scaled
from tests.support.asgi import uvicorn_running

fastapi_app = pytest.importorskip("examples.fastapi_app")


async def test_login_logout_and_tokens() -> None:
    async with uvicorn_running(fastapi_app.app) as server:
        page = await http(server, "GET", "/")
        assert page.status == 200 and b"Log in to play" in page.body
        wrong = await form_post(server, "/login", name="alice", password="nope")
        assert wrong.status == 401 and b"Wrong name or password" in wrong.body
        cookie = await login_cookie(server, "alice", "wonderland")
        page = await http(server, "GET", "/", headers=[("Cookie", cookie)])
        assert b'<b id=me>alice</b>' in page.body and b"/games/rooms/rooms.js" in page.body
        out = await http(server, "POST", "/logout", headers=[("Cookie", cookie)])
        assert out.status == 303
        cleared = out.headers["set-cookie"].split(";")[0]
        assert b"Log in to play" in (await http(server, "GET", "/", headers=[("Cookie", cleared)])).body
        assert (await form_post(server, "/token", name="bob", password="nope")).status == 401
        issued = json.loads((await form_post(server, "/token", name="bob", password="builder")).body)
        assert issued["token_type"] == "bearer"
        # the token admits bob to the lobby
        player = await bot(server, "/games/tictactoe", [("Authorization", "Bearer " + issued["access_token"])])
        await player.recv_type("lobby")
        assert fastapi_app.games.server.websockets
        await player.aclose()


@needs_chromium
async def test_two_logged_in_pages_play_tictactoe() -> None:
    from playwright.async_api import expect

    async with uvicorn_running(fastapi_app.app) as server, chromium() as browser:
        base = f"http://127.0.0.1:{server.port}"
        pages = {}
        for name, password in (("alice", "wonderland"), ("bob", "builder")):
            context = await browser.new_context()
            page = await context.new_page()
            page.set_default_timeout(round(scaled(10) * 1000))
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            await page.goto(base + "/")
            await page.fill("#name", name)
            await page.fill("#password", password)
            await page.click("#login")
            await expect(page.locator("#me")).to_have_text(name)
            pages[name] = (page, errors)
            if name == "alice":
                await expect(page.locator("#status")).to_contain_text("Waiting for an opponent")
        for page, _ in pages.values():
            await expect(page.locator("#status")).to_contain_text(" move")
        both = [p for p, _ in pages.values()]
        first = both[0] if await both[0].locator("#status").inner_text() == "Your move" else both[1]
        second = both[1] if first is both[0] else both[0]
        for i, cell in enumerate([0, 3, 1, 4, 2]):
            page = first if i % 2 == 0 else second
            await expect(page.locator("#status")).to_have_text("Your move")
            await page.click(f'[data-cell="{cell}"]')
            await expect(first.locator(f'[data-cell="{cell}"]')).to_have_text("XO"[i % 2])
        await expect(first.locator("#status")).to_have_text("Game over: you won")
        await expect(second.locator("#status")).to_have_text("Game over: you lost")
        for _, errors in pages.values():
            assert errors == []
