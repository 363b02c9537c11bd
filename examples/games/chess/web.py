"""The chess example's history pages and routes, on the lobby's archive.

Mounted by :func:`mount_history` (``examples/server.py`` calls it when the
site has an archive)::

    /chess/                    the chess page, with a guest cookie (guest.py)
    /chess/games               recent games, JSON: ?player=<id> ?mode= ?before=<ended_at> ?limit=
    /chess/games/{room}        one room's games, JSON (moves, positions, clocks, outcome, PGN)
    /chess/games/{room}/pgn    its PGN (text/plain)
    /chess/replay/{room}       the replay page (?game=<n> for a rematch)
    /chess/history             the games list page
    /chess/leaderboard         the leaderboard page
    /chess/ratings             the leaderboard, JSON: the top 50 per time control

Everything reads the archive, so it survives a restart; a room still running
here (its players deciding on a rematch) is read from memory, so the replay
link of the game-over screen works at once.  When the database cannot answer,
the JSON routes say so with a 503.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import rooms
import ws

from . import history
from .guest import GuestIdentity

__all__ = ["mount_history", "lobby_options", "summary"]

STATIC = pathlib.Path(__file__).parent / "static"
TOP = 50


def summary(game: rooms.GameRecord) -> dict[str, Any]:
    """What the games list shows of an archived room."""
    record = game.record if isinstance(game.record, dict) else {}
    played = record.get("games") or []
    outcomes = [g.get("outcome") for g in played]
    return {
        "room": game.room_id,
        "mode": game.mode,
        "players": [{"seat": p.seat, "name": p.name, "id": p.id, "rating": p.rating_after} for p in game.players],
        "started_at": game.started_at,
        "ended_at": game.ended_at,
        "games": len(played),
        "results": [o.get("result") if isinstance(o, dict) else None for o in outcomes],
        "white": [g.get("white") for g in played],
        "replay": f"/chess/replay/{game.room_id}",
        "pgn": f"/chess/games/{game.room_id}/pgn",
    }


def _full(room_id: str, mode: str, players: Sequence[dict[str, Any]], record: Any, *, live: bool) -> dict[str, Any]:
    games = record.get("games", []) if isinstance(record, dict) else []
    return {"room": room_id, "mode": mode, "players": list(players), "games": games, "live": live}


def lobby_options(archive: str | rooms.Archive, guest: GuestIdentity | None) -> dict[str, Any]:
    """The chess lobby's options for a history: the archive, Glicko-2 ratings from
    the games' results (rematches included), each game's moves and clocks as its
    record, and with *guest* the guest cookie as the identity."""
    if isinstance(archive, str):
        archive = rooms.Archive(archive)
    options: dict[str, Any] = {"archive": archive, "ratings": rooms.Ratings(score=history.scores), "record": history.record}
    if guest is not None:
        options["auth"] = guest.auth
    return options


def mount_history(
    app: ws.App,
    archive: rooms.Archive,
    lobby: Callable[[], rooms.Lobby],
    modes: Sequence[str],
    prefix: str = "/chess",
    *,
    guest: GuestIdentity | None = None,
) -> None:
    """Add the history routes and pages of the chess lobby (``lobby()``, read at
    request time, on *archive*) to *app*; *modes* are its time controls (a
    leaderboard each).  With *guest*, the chess page hands out guest cookies
    (the lobby's ``auth`` reads them).  Call it before the chess lobby's own
    routes: its static files are served under the same prefix."""

    def unavailable(exc: rooms.ArchiveError) -> ws.Response:
        return ws.Response.json({"error": "archive_unavailable", "detail": str(exc)}, status=503)

    async def find(room_id: str) -> dict[str, Any] | None:
        room = next((r for r in lobby().rooms if r.id == room_id), None)
        if room is not None:  # still running here: its finished games are in memory
            players = [{"seat": p.seat, "name": p.name, "id": rooms.archive.player_id(p.identity)} for p in room.players]
            return _full(room.id, str(room.mode), players, history.record(room, None), live=True)
        game = await archive.game(room_id)
        if game is None:
            return None
        players = [{"seat": p.seat, "name": p.name, "id": p.id, "rating": p.rating_after, "rating_before": p.rating_before} for p in game.players]
        return _full(game.room_id, game.mode, players, game.record, live=False)

    if guest is not None:

        @app.route(prefix + "/")
        async def page(request: ws.Request) -> ws.Response:
            return guest.set_cookie(ws.Response.file(STATIC / "index.html"), request)

    @app.route(prefix + "/games")
    async def games(request: ws.Request) -> ws.Response:
        query = request.query
        try:
            before = float(query["before"]) if query.get("before") else None
            limit = int(query.get("limit") or TOP)
        except ValueError:
            return ws.Response.json({"error": "bad_query", "detail": "before is a time, limit a number"}, status=400)
        try:
            found = await archive.games(player=query.get("player") or None, lobby=lobby().name, mode=query.get("mode") or None, limit=limit, before=before)
        except rooms.ArchiveError as exc:
            return unavailable(exc)
        return ws.Response.json({"games": [summary(g) for g in found], "before": found[-1].ended_at if found else None})

    @app.route(prefix + "/games/{room_id}")
    async def game(request: ws.Request, room_id: str) -> ws.Response:
        try:
            found = await find(room_id)
        except rooms.ArchiveError as exc:
            return unavailable(exc)
        if found is None:
            return ws.Response.json({"error": "unknown_game", "detail": "no finished game with this id"}, status=404)
        return ws.Response.json(found)

    @app.route(prefix + "/games/{room_id}/pgn")
    async def pgn(request: ws.Request, room_id: str) -> ws.Response:
        try:
            found = await find(room_id)
        except rooms.ArchiveError as exc:
            return unavailable(exc)
        pgns = [g["pgn"] for g in (found or {}).get("games", []) if g.get("pgn")]
        if not pgns:
            return ws.Response.error(404, "no finished game with this id")
        response = ws.Response.text("\n\n".join(pgns) + "\n")
        response.headers.append(("Content-Disposition", f'attachment; filename="chess-{room_id}.pgn"'))
        return response

    @app.route(prefix + "/ratings")
    async def ratings(request: ws.Request) -> ws.Response:
        controls = lobby_modes(request)
        boards: dict[str, list[dict[str, Any]]] = {}
        try:
            for mode in controls:
                rows = await archive.leaderboard(lobby().name, mode, limit=TOP)
                boards[mode] = [
                    {"rank": i, "name": r.name, "id": r.player, "rating": round(r.rating), "deviation": round(r.deviation),
                     "games": r.games, "wins": r.wins, "draws": r.draws, "losses": r.losses}
                    for i, r in enumerate(rows, 1)
                ]
        except rooms.ArchiveError as exc:
            return unavailable(exc)
        return ws.Response.json({"time_controls": controls, "leaderboards": boards})

    def lobby_modes(request: ws.Request) -> list[str]:
        wanted = request.query.get("mode")
        return [wanted] if wanted else list(modes)

    @app.route(prefix + "/replay/{room_id}")
    async def replay(request: ws.Request, room_id: str) -> ws.Response:
        return ws.Response.file(STATIC / "replay.html")

    @app.route(prefix + "/history")
    async def history_page(request: ws.Request) -> ws.Response:
        return ws.Response.file(STATIC / "games.html")

    @app.route(prefix + "/leaderboard")
    async def leaderboard(request: ws.Request) -> ws.Response:
        return ws.Response.file(STATIC / "leaderboard.html")
