"""The example server started by ``make run``: chess and chat in the browser.

    python -m examples.server --host 127.0.0.1 --port 8000

One process, the in-memory backend, nothing else to install (beyond ``chess``);
or, with ``--redis redis://127.0.0.1:6379/0``, one process of a cluster: start
several on different ports against one Redis and the chess games are matched
across them and survive the death or restart of the process hosting them
(durable rooms, docs/explanation.md); chat stays per process:

    /            an index page linking to the games
    /chess/      chess: lobby per time control, private games by code, clocks,
                 reconnect, spectators, PGN  (examples/games/chess)
    /chat/       chat: open rooms by name and groups of 2..8  (examples/games/chat)
    /rooms/      rooms.js, the browser client of the rooms protocol
    /echo        an echo endpoint (tests and quick checks use it)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import pathlib
from collections.abc import Mapping
from typing import Any

import rooms
import ws

from .games.chat.app import OpenRooms
from .games.chat.app import mount as mount_chat
from .games.chess.app import mount as mount_chess

STATIC = pathlib.Path(__file__).parent / "static"
ROOMS_STATIC = pathlib.Path(rooms.__file__).parent / "static"


@dataclasses.dataclass
class Site:
    """The app and its parts, for tests that look inside (lobbies, open rooms)."""

    app: ws.App
    chess: rooms.Lobby
    chat_rooms: OpenRooms
    chat_groups: dict[int, rooms.Lobby]


def make_app(**options: Any) -> ws.App:
    """The whole example site (see :func:`make_site` for the options)."""
    return make_site(**options).app


def make_site(
    *,
    time_controls: Mapping[str, tuple[float, float]] | None = None,
    chess_options: Mapping[str, Any] | None = None,
    chat_options: Mapping[str, Any] | None = None,
) -> Site:
    """The whole example site.  *time_controls* (mode -> (initial s, increment s))
    replaces the chess time controls, e.g. a tiny clock for a test; the option
    mappings go to :func:`examples.games.chess.app.mount` and ``chat.app.mount``."""
    app = ws.App()

    @app.route("/")
    async def index(request: ws.Request) -> ws.Response:
        return ws.Response.file(STATIC / "index.html")

    @app.route("/echo")
    @ws.endpoint
    async def echo(request: ws.Request, sock: ws.WebSocket) -> None:
        async for msg in sock:
            await sock.send(msg)

    app.mount_static("/rooms", ROOMS_STATIC)
    app.mount_static("/static", STATIC)
    chess_lobby = mount_chess(app, time_controls=time_controls, **(chess_options or {}))
    open_rooms, groups = mount_chat(app, **(chat_options or {}))
    return Site(app, chess_lobby, open_rooms, groups)


async def main() -> None:
    parser = argparse.ArgumentParser(description="chess and chat on ws + rooms")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis", metavar="URL", help="join the cluster of this Redis (redis://host:port/db): chess goes durable")
    parser.add_argument("--secret", default=None, help="seat-token secret shared by the cluster (default: one stored in Redis)")
    args = parser.parse_args()
    backend = None
    chess_options: dict[str, Any] = {}
    if args.redis:
        backend = rooms.RedisBackend(args.redis, prefix="examples:", secret=args.secret)
        chess_options["backend"] = backend
    server = await ws.serve(make_app(chess_options=chess_options), args.host, args.port)
    if backend is not None:
        await backend.start(server)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, server.close)  # a rolling restart: hand the games over
    base = f"http://{args.host}:{server.port}"
    where = f", cluster node {backend.node} on {args.redis}" if backend is not None else ""
    print(f"Serving on {base}/  (chess: {base}/chess/  chat: {base}/chat/{where})  Ctrl-C to stop", flush=True)
    async with server:
        await server.serve_forever()
    if backend is not None:
        await backend.aclose()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
