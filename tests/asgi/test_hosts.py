"""Real ASGI deployments: uvicorn and hypercorn processes serving a FastAPI app
(examples/fastapi_app.py, login by session cookie or bearer token) and a
Starlette app (tests/asgi/starlette_host.py, bearer token through Starlette's
authentication middleware), each with the games mounted at /games by
``ws.asgi``.  Bots play tic-tac-toe and chess to the end through each, with a
reconnect and a spectator; the process then shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator

import attrs
import pytest

import ws
from tests.examples.bots import ChessBot, play
from tests.support import TIMEOUT
from tests.support.asgi import ServerProcess, asgi_process

from .helpers import bot, form_post, http, login_cookie, play_tictactoe

pytest.importorskip("fastapi")
pytest.importorskip("hypercorn")

HOSTS = {"fastapi": "examples.fastapi_app:app", "starlette": "tests.asgi.starlette_host:app"}
PASSWORDS = {"alice": "wonderland", "bob": "builder", "carol": "singer"}
FOOLS_MATE = ["f3", "e5", "g4"]


@attrs.define
class Host:
    proc: ServerProcess
    kind: str

    @property
    def port(self) -> int:
        return self.proc.port

    async def credentials(self) -> dict[str, list[tuple[str, str]]]:
        """Handshake headers for alice, bob and carol: FastAPI's session cookie (alice,
        carol) and a bearer token from its /token (bob); Starlette's fixed tokens."""
        if self.kind == "starlette":
            return {name: [("Authorization", f"Bearer token-{name}")] for name in PASSWORDS}
        creds = {name: [("Cookie", await login_cookie(self, name, PASSWORDS[name]))] for name in ("alice", "carol")}
        reply = await form_post(self, "/token", name="bob", password=PASSWORDS["bob"])
        assert reply.status == 200, reply
        creds["bob"] = [("Authorization", "Bearer " + json.loads(reply.body)["access_token"])]
        return creds


@pytest.fixture(scope="module", params=[(s, h) for s in ("uvicorn", "hypercorn") for h in HOSTS], ids=lambda p: f"{p[0]}-{p[1]}")
def host(request, tmp_path_factory) -> Iterator[Host]:
    server, kind = request.param
    with asgi_process(server, HOSTS[kind], tmp_path_factory.mktemp(server), extra=["--log-level", "info"]) as proc:
        yield Host(proc, kind)
        status = proc.stop()
        output = proc.output()
    # uvicorn ends by raising the signal it handled again, once its shutdown is done
    assert status in (0, -signal.SIGTERM), output
    assert "Traceback" not in output and "Task was destroyed" not in output, output
    if server == "uvicorn":
        assert "Application shutdown complete" in output, output


async def test_pages_and_the_mounted_static_files(host: Host) -> None:
    reply = await http(host, "GET", "/")
    assert reply.status == 200
    reply = await http(host, "GET", "/games/rooms/rooms.js")
    assert reply.status == 200 and b"RoomsClient" in reply.body
    assert reply.headers["content-type"].startswith("text/javascript")
    assert (await http(host, "GET", "/games/rooms/nope.js")).status == 404
    assert (await http(host, "GET", "/games/nowhere")).status == 404


async def test_a_connection_without_credentials_is_refused_before_the_upgrade(host: Host) -> None:
    with pytest.raises(ws.InvalidHandshake) as info:
        await asyncio.wait_for(ws.connect(f"ws://127.0.0.1:{host.port}/games/tictactoe"), TIMEOUT)
    assert info.value.status == 401


async def test_tictactoe_to_the_end_with_a_reconnect_and_a_spectator(host: Host) -> None:
    result = await play_tictactoe([host], "/games/tictactoe", await host.credentials())
    assert result == {"winner": 0, "reason": "three in a row", "board": ["X", "X", "X", "O", "O", "", "", "", ""]}


async def test_chess_to_the_end_with_a_reconnect_and_a_spectator(host: Host) -> None:
    creds = await host.credentials()
    path = "/games/chess/ws"
    a = await bot(host, path, creds["alice"], ChessBot, name="alice")
    await a.recv_type("lobby")
    b = await bot(host, path, creds["bob"], ChessBot, name="bob")
    for each in (a, b):
        await each.wait_matched()
        await each.wait_start()
    white, black = (a, b) if a.color == "white" else (b, a)
    assert white.state["names"] == {"white": white.matched["players"][white.matched["seat"]]["name"], "black": black.matched["players"][black.matched["seat"]]["name"]}
    await play(white, black, FOOLS_MATE[:2])
    # white drops and comes back with its seat token
    token, room = white.matched["token"], white.matched["room"]
    white_name = white.state["names"]["white"]
    white.sock.abort()
    await black.recv_type("player_left")
    back = await bot(host, path, creds[white_name], ChessBot, token=token)
    resumed = await back.recv_type("resumed")
    assert resumed["room"] == room and resumed["state"]["moves"] == FOOLS_MATE[:2]
    back.matched, back.color, back.state = white.matched, "white", resumed["state"]
    await black.recv_type("player_returned")
    white = back
    spectator = await bot(host, path, creds["carol"], ChessBot, watch=room)
    watching = await spectator.recv_type("spectating")
    assert watching["state"]["moves"] == FOOLS_MATE[:2]
    await play(white, black, FOOLS_MATE[2:])
    black.send({"type": "move", "san": "Qh4#"})
    for each in (white, black, spectator):
        over = await each.recv_type("game_over")
        assert over["outcome"] == {"result": "0-1", "reason": "checkmate", "winner": "black"}
    white.send({"type": "leave"})
    for each in (white, black, spectator):
        ended = await each.recv_type("ended")
        assert ended["result"]["outcome"]["winner"] == "black"
        assert (await each.closed()).code == 1000
