"""The history pages in headless Chromium (Debian's, through Playwright): the game-over
screen links to the replay; the games list; the replay viewer stepped with its
buttons and the arrow keys, the clocks as they stood; the leaderboard."""

from __future__ import annotations

import re

import chess
import pytest

import rooms
from examples.server import make_site
from tests.browser import ARTIFACTS, chromium, needs_chromium
from tests.rooms.archive_helpers import identify
from tests.support import running, scaled

from .bots import ChessBot, chess_pair, play
from .test_chess_server import SCHOLARS_MATE, finish

TIMEOUT_MS = round(scaled(10) * 1000)

pytestmark = needs_chromium


@pytest.fixture
async def browser():
    async with chromium() as browser:
        yield browser


async def new_page(browser, url: str):
    context = await browser.new_context(viewport={"width": 1000, "height": 760})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(url)
    return page, errors


def final_fen() -> str:
    board = chess.Board()
    for san in SCHOLARS_MATE:
        board.push_san(san)
    return board.fen()


async def test_replay_games_list_leaderboard_and_the_game_over_link(browser, tmp_path) -> None:
    from playwright.async_api import expect

    archive = rooms.Archive(f"sqlite:///{tmp_path / 'games.db'}")
    site = make_site(time_controls={"5+0": (300, 0)}, chess_options={"reconnect": 2.0, "rematch_window": 5.0, "auth": identify}, archive=archive)
    async with running(site.app) as server:
        base = f"http://127.0.0.1:{server.port}"
        white, black = await chess_pair(server, "5+0")
        await play(white, black, SCHOLARS_MATE)
        await white.recv_type("game_over")
        room_id = white.matched["room"]
        await finish(white, black)
        await archive.flush(scaled(5))

        # the games list links to the replay
        games, games_errors = await new_page(browser, base + "/chess/history")
        row = games.locator(f'#games tr[data-room="{room_id}"]')
        await expect(row).to_contain_text("1-0")
        await expect(row).to_contain_text(white.name)
        await row.locator("a.replay").click()
        await expect(games).to_have_url(re.compile(f"/chess/replay/{room_id}$"))

        # the replay viewer: buttons and arrow keys, the clocks as they stood
        page = games
        board = page.locator("#board")
        await expect(board).to_have_attribute("data-ply", "0")
        await expect(board).to_have_attribute("data-fen", chess.STARTING_FEN)
        await expect(page.locator("#clock-white")).to_contain_text("5:00.0")
        await expect(page.locator("#ply")).to_have_text(f"0 / {len(SCHOLARS_MATE)}")
        await page.click("#next")
        await expect(board).to_have_attribute("data-ply", "1")
        await expect(board.locator('[data-square="e4"]')).to_have_attribute("data-piece", "P")
        await page.keyboard.press("ArrowRight")
        await expect(board).to_have_attribute("data-ply", "2")
        await page.keyboard.press("ArrowLeft")
        await expect(board).to_have_attribute("data-ply", "1")
        await page.keyboard.press("End")
        await expect(board).to_have_attribute("data-ply", str(len(SCHOLARS_MATE)))
        await expect(board).to_have_attribute("data-fen", final_fen())
        record = (await archive.game(room_id)).record["games"][0]
        last = record["clocks"][-1]
        shown = await page.locator("#clock-black").text_content()
        minutes, seconds = re.search(r"(\d+):(\d+\.\d)", shown).groups()
        assert int(minutes) * 60 + float(seconds) == pytest.approx(last["black"], abs=0.06)
        await page.click("#prev")
        await expect(board).to_have_attribute("data-ply", str(len(SCHOLARS_MATE) - 1))
        await page.click("#first")
        await expect(board).to_have_attribute("data-ply", "0")
        await page.locator("#moves span", has_text="Qh5").click()
        await expect(board).to_have_attribute("data-ply", "5")
        await expect(page.locator("#result")).to_have_text("1-0, checkmate")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "chess-replay.png"))

        # the leaderboard: the winner first, with the games played
        board_page, board_errors = await new_page(browser, base + "/chess/leaderboard")
        rows = board_page.locator('section[data-mode="5+0"] tbody tr')
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_contain_text(white.name)
        await expect(rows.first).to_contain_text("1 / 0 / 0")
        await board_page.screenshot(path=str(ARTIFACTS / "chess-leaderboard.png"))

        # the game-over screen links to the replay of its room
        player, player_errors = await new_page(browser, base + "/chess/")
        await player.fill("#name", "carol")
        await player.click("#play")
        await expect(player.locator("#status")).to_contain_text("Waiting")
        bot = await ChessBot.connect(server, "/chess/ws", name="dave")
        await bot.wait_matched()
        await bot.wait_start()
        bot.send({"type": "resign"})
        await expect(player.locator("#status")).to_contain_text("Game over")
        link = player.locator("#replay-link")
        await expect(link).to_be_visible()
        await expect(link).to_have_attribute("href", f"/chess/replay/{bot.matched['room']}")
        await link.click()
        await expect(player.locator("#result")).to_contain_text("resignation")
        await bot.aclose()
        assert games_errors == [] and board_errors == [] and player_errors == []
    await archive.aclose()
