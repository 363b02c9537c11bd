"""HTTP by hand and bots with credentials, for the ASGI tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import attrs

import ws
from tests.support import TIMEOUT, Bot, HasPort, url

__all__ = ["Reply", "bot", "form_post", "http", "login_cookie", "play_tictactoe"]

B = TypeVar("B", bound=Bot)


@attrs.frozen
class Reply:
    status: int
    headers: ws.Headers
    body: bytes


async def http(server: HasPort, method: str, path: str, *, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> Reply:
    """One HTTP/1.1 request with ``Connection: close``; the reply read to the end."""
    fields = [("Host", "127.0.0.1"), ("Connection", "close"), *(headers or [])]
    if body or method == "POST":
        fields.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head.encode("latin-1") + body)
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    top, _, rest = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    parsed = ws.Headers(tuple(line.split(": ", 1)) for line in lines[1:] if ": " in line)
    if "chunked" in (parsed.get("Transfer-Encoding") or ""):
        rest = _unchunk(rest)
    return Reply(int(lines[0].split()[1]), parsed, rest)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out += data[:n]
        data = data[n + 2 :]
    return bytes(out)


async def form_post(server: HasPort, path: str, **fields: str) -> Reply:
    return await http(
        server, "POST", path, body=urlencode(fields).encode(), headers=[("Content-Type", "application/x-www-form-urlencoded")]
    )


async def login_cookie(server: HasPort, name: str, password: str) -> str:
    """Log in through the FastAPI example's form; the ``Cookie`` header value of the session."""
    reply = await form_post(server, "/login", name=name, password=password)
    assert reply.status == 303, reply
    cookie = reply.headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith("session=")
    return cookie


async def bot(server: HasPort, path: str, headers: list[tuple[str, str]], cls: type[B] = Bot, **query: Any) -> B:  # type: ignore[assignment]
    """A bot connected to *path* with extra handshake headers (a cookie, a bearer token)."""
    sock = await asyncio.wait_for(ws.connect(url(server, path, **query), extra_headers=headers), TIMEOUT)
    return cls(sock, str(query.get("name", "")))


async def play_tictactoe(
    servers: Sequence[HasPort], path: str, creds: dict[str, list[tuple[str, str]]], *, names_in_query: bool = False
) -> dict[str, Any]:
    """alice and bob play to X's win on the top row; X drops mid-game and comes
    back with its seat token; carol watches from the middle of the game and sees
    the end.  alice and carol connect to ``servers[0]``, bob and X's return to
    ``servers[-1]`` (two cluster nodes, or one server twice).  *creds* are each
    one's handshake headers; *names_in_query* names them with ``?name=`` too
    (for a lobby without ``auth=``).  Returns the room's result."""
    first, last = servers[0], servers[-1]

    def named(name: str) -> dict[str, str]:
        return {"name": name} if names_in_query else {}

    x = await bot(first, path, creds["alice"], **named("alice"))
    assert (await x.recv_type("lobby"))["type"] == "lobby"
    o = await bot(last, path, creds["bob"], **named("bob"))
    for player in (x, o):
        await player.recv_type("matched")
        await player.recv_type("start")
    if x.matched["seat"] != 0:
        x, o = o, x
    room = x.matched["room"]
    names = {p["name"] for p in x.matched["players"]}
    assert names == {"alice", "bob"}

    async def move(player: Bot, cell: int) -> None:
        player.send({"cell": cell})
        for each in (x, o):
            assert (await each.recv_type("move"))["cell"] == cell

    await move(x, 0)
    await move(o, 3)
    x.sock.abort()  # X's connection drops: the seat is held
    assert (await o.recv_type("player_left"))["player"]["seat"] == 0
    token = x.matched["token"]
    back = await bot(last, path, creds[x.matched["players"][0]["name"]], token=token)
    resumed = await back.recv_type("resumed")
    assert resumed["room"] == room and resumed["seat"] == 0
    assert resumed["state"]["board"] == ["X", "", "", "O", "", "", "", "", ""]
    assert (await o.recv_type("player_returned"))["player"]["seat"] == 0
    x = back
    spectator = await bot(first, path, creds["carol"], watch=room)
    watching = await spectator.recv_type("spectating")
    assert watching["state"]["board"] == ["X", "", "", "O", "", "", "", "", ""]
    await move(x, 1)
    await move(o, 4)
    x.send({"cell": 2})
    results = [await each.recv_type("ended") for each in (x, o, spectator)]
    assert all(r == results[0] for r in results)
    for each in (x, o, spectator):
        closed = await each.closed()
        assert closed.code == 1000
    return results[0]["result"]
