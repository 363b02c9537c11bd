"""A FastAPI site with a login that hosts the games through ``ws.asgi``.

    pip install -e '.[asgi,examples]'
    uvicorn examples.fastapi_app:app --port 8000        (or: hypercorn examples.fastapi_app:app)

FastAPI does what it is good at, the pages, the form, the session and the
login; the games (tic-tac-toe and chess, two ``rooms.Lobby``) are a ``ws.App``
mounted under ``/games`` with ``app.mount("/games", ws.asgi(games))``:

    /              the login form, or the tic-tac-toe page once logged in
    POST /login    name and password: the session cookie (SessionMiddleware)
    POST /logout
    POST /token    name and password: a bearer token, for a client that is not a browser
    /games/tictactoe    WebSocket: the tic-tac-toe lobby
    /games/chess/ws     WebSocket: the chess lobby (examples/games/chess)
    /games/rooms/rooms.js  the browser client

Both lobbies take the player's identity from the host (``auth=player``): the
session Starlette's ``SessionMiddleware`` put in ``request.scope["session"]``
(a browser sends the cookie with the WebSocket handshake), or else a bearer
token this app issued, in the ``Authorization`` header.  Nobody logged in: 401
before the upgrade.  ``lifespan=games.lifespan`` starts and stops the games
(a mounted app gets no lifespan of its own): the lobbies' backends start, and
at shutdown the games end and their sockets close with 1001.

The user table is a dict to keep the example whole; use your own store.
"""

from __future__ import annotations

import html
import os
import pathlib
import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.middleware.sessions import SessionMiddleware

import rooms
import ws

from .games.chess.app import mount as mount_chess
from .tictactoe import tictactoe

ROOMS_STATIC = pathlib.Path(rooms.__file__).parent / "static"

# name -> password.  A real site checks a password hash in its user store.
USERS = {"alice": "wonderland", "bob": "builder", "carol": "singer"}
# bearer token -> name, for the tokens /token issued (in memory: a restart forgets them)
TOKENS: dict[str, str] = {}


def check_password(name: str, password: str) -> bool:
    expected = USERS.get(name)
    return expected is not None and secrets.compare_digest(expected.encode(), password.encode())


def player(request: ws.Request) -> dict[str, Any]:
    """The lobbies' ``auth=``: who the host says this connection is."""
    session = (request.scope or {}).get("session") or {}
    name = session.get("user")
    if name is None:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer":
            name = TOKENS.get(token.strip())
    if name is None:
        raise ws.HTTPError(401, "log in first")
    return {"name": name}


def make_games(auth: Any = player, *, time_controls: Mapping[str, tuple[float, float]] | None = None, reconnect: float = 30.0) -> ws.App:
    """The ``ws.App`` of the games, every lobby behind *auth*."""
    games = ws.App()
    games.route("/tictactoe")(rooms.Lobby(2, tictactoe.game, reconnect=reconnect, auth=auth, name="tictactoe"))
    mount_chess(games, time_controls=time_controls, reconnect=reconnect, auth=auth)
    games.mount_static("/rooms", ROOMS_STATIC)
    return games


games = ws.asgi(make_games())
app = FastAPI(lifespan=games.lifespan)
app.add_middleware(SessionMiddleware, secret_key=os.environ.get("SESSION_SECRET") or secrets.token_hex(32), same_site="strict")
app.mount("/games", games)


@app.get("/", response_class=HTMLResponse)
async def home(request: Request) -> str:
    name = request.session.get("user")
    return TICTACTOE.replace("{name}", html.escape(name)) if name else LOGIN


@app.post("/login")
async def login(request: Request, name: str = Form(), password: str = Form()) -> Any:
    if not check_password(name, password):
        return HTMLResponse(LOGIN.replace("<!--error-->", "<p class=error>Wrong name or password.</p>"), status_code=401)
    request.session["user"] = name
    return RedirectResponse("/", status_code=303)


@app.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@app.post("/token")
async def token(name: str = Form(), password: str = Form()) -> JSONResponse:
    if not check_password(name, password):
        return JSONResponse({"detail": "wrong name or password"}, status_code=401)
    issued = secrets.token_urlsafe(24)
    TOKENS[issued] = name
    return JSONResponse({"access_token": issued, "token_type": "bearer"})


LOGIN = """<!doctype html>
<meta charset=utf-8><title>Log in</title>
<h1>Log in to play</h1>
<!--error-->
<form method=post action=/login>
  <label>Name <input name=name id=name autocomplete=username></label>
  <label>Password <input name=password id=password type=password autocomplete=current-password></label>
  <button id=login>Log in</button>
</form>
<p>Try alice / wonderland or bob / builder.</p>
"""

TICTACTOE = """<!doctype html>
<meta charset=utf-8><title>Tic-tac-toe</title>
<style>
  #board { display: grid; grid-template-columns: repeat(3, 4em); gap: 4px; }
  #board button { height: 4em; font-size: 1.5em; }
</style>
<p>Logged in as <b id=me>{name}</b>. <form method=post action=/logout style=display:inline><button>Log out</button></form></p>
<p id=status>Connecting...</p>
<div id=board></div>
<script type=module>
import { RoomsClient } from "/games/rooms/rooms.js";
const board = document.getElementById("board"), status = document.getElementById("status");
const cells = [...Array(9)].map((_, i) => {
  const b = document.createElement("button");
  b.dataset.cell = i;
  b.onclick = () => client.send({ cell: i });
  board.append(b);
  return b;
});
const client = new RoomsClient();
let seat = null;
function show(marks, turn) {
  marks.forEach((m, i) => { cells[i].textContent = m; });
  status.textContent = turn === seat ? "Your move" : "Their move";
}
client.on("lobby", () => { status.textContent = "Waiting for an opponent"; });
client.on("matched", (m) => { seat = m.seat; status.textContent = "Matched"; });
client.on("resumed", (m) => { seat = m.seat; if (m.state) show(m.state.board, m.state.turn); });
client.on("message", (msg) => {
  if (msg.type === "start") show(msg.board, msg.turn);
  if (msg.type === "move") show(msg.board, 1 - msg.seat);
});
client.on("ended", (e) => {
  const w = e.result && e.result.winner;
  status.textContent = "Game over: " + (w === null || w === undefined ? "draw" : w === seat ? "you won" : "you lost");
});
client.connect("/games/tictactoe");
</script>
"""
