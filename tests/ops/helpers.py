"""Helpers of the operator's-kit tests: HTTP requests with headers and a body,
and a tic-tac-toe app with metrics and the admin page."""

from __future__ import annotations

import json
from typing import Any

import rooms
import ws
from examples import tictactoe
from tests.support import Bot, raw_request

__all__ = ["TOKEN", "http", "http_json", "tictactoe_site", "pair"]

TOKEN = "s3cret-admin-token"


async def http(server: Any, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request with ``Connection: close``: the status, the headers (lower-case names, last wins) and the body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    raw = await raw_request(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), found, rest


async def http_json(server: Any, method: str, path: str, obj: Any = None, *, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = b""
    if obj is not None:
        body = json.dumps(obj).encode()
        headers["Content-Type"] = "application/json"
    status, _, data = await http(server, method, path, headers=headers, body=body)
    return status, json.loads(data) if data else None


def tictactoe_site(**lobby_options: Any) -> tuple[ws.App, rooms.Lobby]:
    """The guide's tic-tac-toe behind /tictactoe, with /metrics and the admin page (TOKEN)."""
    app = ws.App(metrics=True)
    guide = tictactoe.tictactoe
    lobby = app.route("/tictactoe")(rooms.Lobby(2, guide.game, reconnect=30.0, **lobby_options))
    rooms.mount_admin(app, token=TOKEN)
    return app, lobby


async def pair(server: Any, path: str = "/tictactoe", names: tuple[str, str] = ("x", "o"), **query: Any) -> tuple[Bot, Bot]:
    """Two bots matched in one room, both past ``start``, by seat (seat 0 first)."""
    first = await Bot.connect(server, path, name=names[0], **query)
    await first.recv_type("lobby")
    second = await Bot.connect(server, path, name=names[1], **query)
    for bot in (first, second):
        await bot.recv_type("matched")
        await bot.recv_type("start")
    bots = sorted((first, second), key=lambda b: b.matched["seat"])  # type: ignore[index]
    return bots[0], bots[1]
