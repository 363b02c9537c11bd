"""The example server started by ``make run``: chess and chat in the browser, and tic-tac-toe.

    python -m examples.server --host 127.0.0.1 --port 8000
    python -m examples.server --metrics --admin-token TOKEN   (and the operator's kit)
    uvicorn examples.server:asgi_app        (the same site on an ASGI server)

One process, the in-memory backend, nothing else to install (beyond ``chess``);
or, with ``--redis redis://127.0.0.1:6379/0``, one process of a cluster: start
several on different ports against one Redis and the chess games are matched
across them and survive the death or restart of the process hosting them
(durable rooms, docs/explanation.md); chat stays per process:

    /            an index page linking to the games
    /chess/      chess: lobby per time control, private games by code, clocks,
                 reconnect, spectators, PGN  (examples/games/chess)
    /chat/       chat: open rooms by name and groups of 2..8  (examples/games/chat)
    /tictactoe   the tic-tac-toe lobby of the guide and of docs/protocol.md's worked
                 exchange (examples/tictactoe.py): a WebSocket endpoint, no page
    /rooms/      rooms.js, the browser client of the rooms protocol
    /echo        an echo endpoint (tests and quick checks use it)
    /healthz     200 while the process serves; /readyz 200 while it takes new players
    /metrics     Prometheus metrics (with --metrics; the metrics extra)
    /admin/      the admin page (with --admin-token TOKEN, or ROOMS_ADMIN_TOKEN)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import pathlib
import signal
from collections.abc import Mapping
from typing import Any

import rooms
import ws

from . import tictactoe
from .games.chat.app import OpenRooms
from .games.chat.app import mount as mount_chat
from .games.chess.app import DEFAULT_TIME_CONTROLS
from .games.chess.app import mount as mount_chess
from .games.chess.guest import GuestIdentity, load_secret
from .games.chess.web import lobby_options as chess_history_options
from .games.chess.web import mount_history

STATIC = pathlib.Path(__file__).parent / "static"
ROOMS_STATIC = pathlib.Path(rooms.__file__).parent / "static"


@dataclasses.dataclass
class Site:
    """The app and its parts, for tests that look inside (lobbies, open rooms)."""

    app: ws.App
    chess: rooms.Lobby
    chat_rooms: OpenRooms
    chat_groups: dict[int, rooms.Lobby]
    tictactoe: rooms.Lobby


def make_app(**options: Any) -> ws.App:
    """The whole example site (see :func:`make_site` for the options)."""
    return make_site(**options).app


def make_site(
    *,
    time_controls: Mapping[str, tuple[float, float]] | None = None,
    chess_options: Mapping[str, Any] | None = None,
    chat_options: Mapping[str, Any] | None = None,
    archive: str | rooms.Archive | None = None,
    guest: GuestIdentity | None = None,
    metrics: bool = False,
    admin_token: str | None = None,
) -> Site:
    """The whole example site.  *time_controls* (mode -> (initial s, increment s))
    replaces the chess time controls, e.g. a tiny clock for a test; the option
    mappings go to :func:`examples.games.chess.app.mount` and ``chat.app.mount``.
    With *archive* (a URL or a ``rooms.Archive``) chess games are kept, rated and
    replayable (examples/games/chess/web.py), players known by *guest* cookies.
    ``/healthz`` and ``/readyz`` are always served; *metrics* adds ``/metrics``
    and *admin_token* the admin page at ``/admin/``."""
    app = ws.App(metrics=metrics)
    app.mount_health()

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
    history: dict[str, Any] = {}
    if archive is not None:
        history = chess_history_options(archive, guest)
        mount_history(app, history["archive"], lambda: chess_lobby, list(time_controls or DEFAULT_TIME_CONTROLS), guest=guest)
    chess_lobby = mount_chess(app, time_controls=time_controls, **{**history, **(chess_options or {})})
    open_rooms, groups = mount_chat(app, **(chat_options or {}))
    # A lobby of its own (not examples.tictactoe's), so that each site starts empty.
    # Its reconnect is a float, as chess's and chat's are: every lobby of this site
    # writes "reconnect":30.0 (docs/protocol.md: decode it as a float).
    guide = tictactoe.tictactoe
    tictactoe_lobby = app.route("/tictactoe")(rooms.Lobby(guide.n, guide.game, reconnect=float(guide.reconnect)))
    if admin_token:
        rooms.mount_admin(app, token=admin_token)
    return Site(app, chess_lobby, open_rooms, groups, tictactoe_lobby)


# The whole site as an ASGI application: ``uvicorn examples.server:asgi_app``.
asgi_app = ws.asgi(make_app())


async def main() -> None:
    parser = argparse.ArgumentParser(description="chess and chat on ws + rooms")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--archive", help="keep chess games and ratings: sqlite:///games.db or postgresql://user:pass@host/db")
    parser.add_argument("--metrics", action="store_true", help="serve Prometheus metrics at /metrics (needs the metrics extra)")
    parser.add_argument("--admin-token", default=os.environ.get(rooms.admin.TOKEN_VARIABLE), help="serve the admin page at /admin/ behind this token (default: $ROOMS_ADMIN_TOKEN)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="log lines as text (default) or one JSON object each (for production)")
    parser.add_argument("--log-level", default="INFO", help="the level of the ws and rooms loggers (default INFO)")
    parser.add_argument(
        "--max-connections-per-ip", type=int, default=256, help="connections from one address (default 256; 0: no limit, for a load test from one machine)"
    )
    parser.add_argument(
        "--drain", type=float, default=30.0, metavar="SECONDS", help="on SIGTERM, how long running games may go on to their end (default 30)"
    )
    parser.add_argument("--redis", metavar="URL", help="join the cluster of this Redis (redis://host:port/db): chess games become durable")
    parser.add_argument("--secret", default=None, help="seat-token secret shared by the cluster (default: one stored in Redis)")
    args = parser.parse_args()
    ws.configure_logging(level=args.log_level, json=args.log_format == "json")
    archive = rooms.Archive(args.archive) if args.archive else None
    backend = rooms.RedisBackend(args.redis, prefix="examples:", secret=args.secret) if args.redis else None
    chess_options: dict[str, Any] = {} if backend is None else {"backend": backend}
    site = make_site(chess_options=chess_options, archive=archive, guest=GuestIdentity(load_secret()) if archive else None, metrics=args.metrics, admin_token=args.admin_token)
    if archive is not None:
        try:
            await archive.open()  # a corrupt file or a newer schema stops here, with what to do
        except rooms.ArchiveUnavailable as exc:
            print(f"archive: {exc}; games wait in {archive.spool.path}", flush=True)
        except rooms.ArchiveError as exc:
            raise SystemExit(f"archive: {exc}") from None
    limits = ws.ServerLimits(max_connections_per_ip=args.max_connections_per_ip or None, drain_timeout=args.drain)
    server = await ws.serve(site.app, args.host, args.port, limits=limits)
    if backend is not None:
        await backend.start(server)
    # SIGTERM (a deploy, kubectl drain) closes gracefully: /readyz says 503, waiting
    # players are told at once; in a cluster the durable rooms are handed to another
    # process, else games get --drain seconds to end before their sockets get 1001.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, server.close)
    base = f"http://{args.host}:{server.port}"
    where = f", cluster node {backend.node} on {args.redis}" if backend is not None else ""
    print(
        f"Serving on {base}/  (chess: {base}/chess/  chat: {base}/chat/  tic-tac-toe: ws://{args.host}:{server.port}/tictactoe{where})  Ctrl-C to stop",
        flush=True,
    )
    if archive is not None:
        print(f"Archive: {archive.url}  (games: {base}/chess/history  leaderboard: {base}/chess/leaderboard)", flush=True)
    kit = [f"{base}/healthz", f"{base}/readyz"] + ([f"{base}/metrics"] if args.metrics else []) + ([f"{base}/admin/"] if args.admin_token else [])
    print("Operator: " + "  ".join(kit), flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        if backend is not None:
            await backend.aclose()
        if archive is not None:
            await archive.aclose()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
