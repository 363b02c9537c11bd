"""The chess example with an archive: /chess/games (JSON), /chess/games/{id} and its
PGN, the ratings JSON, all surviving a restart of the server; the guest cookie."""

from __future__ import annotations

import json

import rooms
from examples.games.chess.guest import COOKIE, GuestIdentity
from examples.server import make_site
from tests.support import http_get, raw_request, running, scaled

from .bots import chess_pair, play
from .test_chess_server import SCHOLARS_MATE, finish

SECRET = b"0123456789abcdef-test-secret"


def site_on(url: str):
    return make_site(time_controls={"5+0": (300, 0), "3+2": (180, 2)}, chess_options={"reconnect": 2.0, "rematch_window": 5.0},
                     archive=rooms.Archive(url), guest=GuestIdentity(SECRET))


async def get_json(server, path: str):
    status, body = await http_get(server, path)
    return status, json.loads(body)


async def test_games_pgn_and_ratings_survive_a_restart(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'games.db'}"
    site = site_on(url)
    async with running(site.app) as server:
        white, black = await chess_pair(server, "5+0")
        await play(white, black, SCHOLARS_MATE)
        await white.recv_type("game_over")
        room_id = white.matched["room"]
        # while the room waits for a rematch, its game is already there (from memory)
        status, live = await get_json(server, f"/chess/games/{room_id}")
        assert status == 200 and live["live"] is True and live["games"][0]["moves"][-1] == "Qxf7#"
        await finish(white, black)
        await site.chess.archive.flush(scaled(5))
    await site.chess.archive.aclose()
    again = site_on(url)  # a new process on the same file
    async with running(again.app) as server:
        status, listing = await get_json(server, "/chess/games")
        assert status == 200 and [g["room"] for g in listing["games"]] == [room_id]
        entry = listing["games"][0]
        assert entry["results"] == ["1-0"] and entry["mode"] == "5+0" and entry["replay"] == f"/chess/replay/{room_id}"
        status, full = await get_json(server, f"/chess/games/{room_id}")
        assert status == 200 and full["live"] is False
        game = full["games"][0]
        assert game["names"] == {"white": white.name, "black": black.name} and game["outcome"]["reason"] == "checkmate"
        assert len(game["fens"]) == len(game["clocks"]) == len(SCHOLARS_MATE) + 1 and game["uci"][-1] == "h5f7"
        assert game["clocks"][0] == {"white": 300, "black": 300}
        assert all(0 < c["white"] <= 300 and 0 < c["black"] <= 300 for c in game["clocks"])
        status, pgn = await http_get(server, f"/chess/games/{room_id}/pgn")
        assert status == 200 and pgn.decode().rstrip().endswith("4. Qxf7# 1-0")
        assert (await http_get(server, "/chess/games/nope"))[0] == 404
        assert (await http_get(server, "/chess/games/nope/pgn"))[0] == 404
        assert (await http_get(server, "/chess/games?before=soon"))[0] == 400
        status, ratings = await get_json(server, "/chess/ratings")
        assert status == 200 and ratings["time_controls"] == ["5+0", "3+2"] and ratings["leaderboards"]["3+2"] == []
        # the bots had no guest cookie: anonymous, archived but not rated
        assert ratings["leaderboards"]["5+0"] == []
        for page in ("/chess/history", "/chess/leaderboard", f"/chess/replay/{room_id}"):
            status, body = await http_get(server, page)
            assert status == 200 and b"<html" in body
    await again.chess.archive.aclose()


async def test_the_guest_cookie() -> None:
    guest = GuestIdentity(SECRET)
    value = guest.new_cookie()
    assert guest.guest_of(value).startswith("guest-") and guest.guest_of(value) == guest.guest_of(value)
    assert guest.guest_of(value[:-1] + ("0" if value[-1] != "0" else "1")) is None  # forged
    assert guest.guest_of("nonsense") is None and guest.guest_of(None) is None
    assert GuestIdentity(b"another-secret-of-16+").guest_of(value) is None


async def test_the_chess_page_hands_out_a_guest_cookie_once(tmp_path) -> None:
    site = site_on(f"sqlite:///{tmp_path / 'games.db'}")
    async with running(site.app) as server:
        raw = await raw_request(server, b"GET /chess/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = raw.split(b"\r\n\r\n", 1)[0].decode()
        cookie = next(line.split(": ", 1)[1] for line in head.split("\r\n") if line.lower().startswith("set-cookie:"))
        assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        value = cookie.split(";", 1)[0]
        raw = await raw_request(server, f"GET /chess/ HTTP/1.1\r\nHost: x\r\nCookie: {value}\r\nConnection: close\r\n\r\n".encode())
        assert b"set-cookie" not in raw.split(b"\r\n\r\n", 1)[0].lower()
    await site.chess.archive.aclose()


async def test_an_unreadable_archive_answers_503(tmp_path) -> None:
    db = tmp_path / "games.db"
    db.write_bytes(b"not a database " * 100)
    site = site_on(f"sqlite:///{db}")
    async with running(site.app) as server:
        status, body = await get_json(server, "/chess/games")
        assert status == 503 and body["error"] == "archive_unavailable" and "not a SQLite database" in body["detail"]
        assert (await http_get(server, "/chess/ratings"))[0] == 503
    await site.chess.archive.aclose(timeout=0)
