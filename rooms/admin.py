"""The admin page: what every lobby holds, and two actions, behind a token.

``rooms.mount_admin(app, token=...)`` (or the ``ROOMS_ADMIN_TOKEN``
environment variable) serves, under ``/admin/``:

- the page (:mod:`rooms.adminpage`): every process, its lobbies with
  their queues by mode and counters, their rooms with players, spectators,
  age and state snapshot, a button to end a room and one per player to
  remove them; it polls ``api/state`` every two seconds;
- ``api/state`` (JSON): the snapshots; ``api/end`` and ``api/remove`` (POST,
  JSON): the actions.

Off unless mounted, and mounting needs a token: every request without it gets
401 (the page answers with a form asking for it, which sets a cookie).  The
token travels as ``Authorization: Bearer <token>`` or as that cookie (an HMAC
of the token, ``HttpOnly``, ``SameSite=Strict``); a POST authorised by the
cookie must carry the ``X-Rooms-Admin`` header, which a page of another site
cannot send.  On a cluster (``RedisBackend``), the page asks every process
through Redis (:mod:`rooms.cluster.admin`) and sends each action to the
process hosting the room.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import inspect
import json
import os
import socket
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import ws

from .adminpage import PAGE
from .backend import Backend
from .lobby import Lobby
from .room import Room

__all__ = ["mount_admin", "AdminPage", "lobby_snapshot", "room_snapshot", "act", "TOKEN_VARIABLE"]

TOKEN_VARIABLE = "ROOMS_ADMIN_TOKEN"
_COOKIE = "rooms_admin"
_HEADER = "X-Rooms-Admin"
MAX_STATE = 16_384  # characters of a room's state shown; more is cut


def _jsonable(value: Any) -> Any:
    """*value* as JSON can carry it (what JSON cannot encode is shown by ``repr``)."""
    return json.loads(json.dumps(value, default=repr))


async def _state_of(lobby: Lobby, room: Room) -> Any:
    """The room's state as a late spectator would get it (``on_spectate``, with no
    spectator), else ``room.state``; cut at :data:`MAX_STATE` characters."""
    state: Any = room.state
    if lobby.on_spectate is not None:
        try:
            state = lobby.on_spectate(room, None)  # type: ignore[arg-type]  # no spectator: the admin page
            if inspect.isawaitable(state):
                state = await state
        except Exception as exc:  # a hook that needs a real spectator
            state = {"unavailable": repr(exc), "state": repr(room.state)}
    text = json.dumps(state, default=repr)
    if len(text) > MAX_STATE:
        return {"truncated": text[:MAX_STATE]}
    return json.loads(text)


async def room_snapshot(lobby: Lobby, room: Room, now: float | None = None) -> dict[str, Any]:
    """A running room as the admin page shows it."""
    now = time.time() if now is None else now
    players = []
    for p in room.players:
        away = None if p.away_since is None else round(time.monotonic() - p.away_since, 1)
        players.append({"seat": p.seat, "name": str(p.name), "connected": p.connected, "gone": p.gone, "away": away})
    return {
        "id": room.id,
        "mode": _jsonable(room.mode),
        "code": room.code,
        "age": round(now - room.created_at, 1),
        "players": players,
        "spectators": len(room.spectators),
        "state": await _state_of(lobby, room),
    }


async def lobby_snapshot(lobby: Lobby) -> dict[str, Any]:
    """A lobby as the admin page shows it: queues by mode, counters, rooms here."""
    waiting: dict[str, int] = {mode: 0 for mode in lobby.stats.modes}
    for ticket in lobby.backend.waiting_tickets(lobby):
        mode = getattr(ticket.key, "mode", None)
        label = "" if mode is None else str(mode)
        waiting[label] = waiting.get(label, 0) + 1
    stats = lobby.stats
    now = time.time()
    return {
        "name": lobby.name,
        "n": lobby.n,
        "waiting": dict(sorted(waiting.items())),
        "matched": stats.matched,
        "reconnects": stats.reconnects,
        "finished": dict(sorted(stats.finished.items())),
        "rooms": [await room_snapshot(lobby, room, now) for room in sorted(lobby.rooms, key=lambda r: r.created_at)],
    }


def act(lobby: Lobby, action: str, room_id: str, seat: int | None = None) -> dict[str, Any]:
    """Run an admin action on a room of *lobby* hosted here: ``end`` it, or
    ``remove`` the player of *seat*; the answer the page shows."""
    if action == "end":
        ok = lobby.end_room(room_id)
    elif action == "remove" and seat is not None:
        ok = lobby.remove_player(room_id, seat)
    else:
        return {"ok": False, "detail": f"unknown action {action!r}"}
    return {"ok": ok, "detail": "done" if ok else "no such room or player here (over, or gone already)"}


def _node_of(backend: Backend) -> str | None:
    node = getattr(backend, "node", None)
    return node if isinstance(node, str) else None


class AdminPage:
    """The admin page's handlers for *app* (see the module docstring); built by
    :func:`mount_admin`.  ``lobbies`` names them; by default every route
    handler of the app that is a :class:`rooms.Lobby`, looked up per request."""

    def __init__(self, app: ws.App, token: str, *, lobbies: Iterable[Lobby] | None = None, timeout: float = 2.0) -> None:
        if not token:
            raise ValueError("the admin page needs a token")
        self.app = app
        self._token = token.encode()
        self._cookie = hmac.new(self._token, b"rooms admin cookie", hashlib.sha256).hexdigest()
        self._lobbies = list(lobbies) if lobbies is not None else None
        self.timeout = timeout
        self.node = f"{socket.gethostname()}-{os.getpid()}"

    def lobbies(self) -> list[Lobby]:
        """The lobbies shown (this process's)."""
        if self._lobbies is not None:
            return list(self._lobbies)
        found = [h for h in self.app.router.handlers() if isinstance(h, Lobby)]
        found += [s for s in self.app.metrics_sources if isinstance(s, Lobby) and s not in found]
        return found

    # ------------------------------------------------------------------ authorisation

    def authorised(self, request: ws.Request, *, action: bool = False) -> bool:
        """Whether *request* carries the token (a bearer token, or the cookie; an
        action by cookie also needs the ``X-Rooms-Admin`` header)."""
        bearer = request.headers.get("Authorization") or ""
        if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].strip().encode(), self._token):
            return True
        cookie = request.cookies.get(_COOKIE, "")
        if not hmac.compare_digest(cookie.encode(), self._cookie.encode()):
            return False
        return not action or request.headers.get(_HEADER) is not None

    def _refuse(self) -> ws.Response:
        response = ws.Response.json({"error": "unauthorized", "detail": f"this needs the admin token ({TOKEN_VARIABLE})"}, status=401)
        response.headers.append(("WWW-Authenticate", 'Bearer realm="rooms admin"'))
        return response

    # ------------------------------------------------------------------ handlers

    # Every link and redirect is relative (``login``, ``./``) and the cookie takes
    # its default path (the page's directory), so the page works wherever the app
    # is mounted (an ASGI host's prefix included).

    async def page(self, request: ws.Request) -> ws.Response:
        if not request.path.endswith("/"):
            return ws.Response.redirect(request.path.rsplit("/", 1)[1] + "/", status=308)
        if not self.authorised(request):
            return _login_page("", 401)
        return ws.Response(200, PAGE.encode(), [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")])

    async def login(self, request: ws.Request) -> ws.Response:
        given = (parse_qs(request.body.decode("utf-8", "replace")).get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), self._token):
            return _login_page("Wrong token.", 401)
        response = ws.Response.redirect("./", status=303)
        response.headers.append(("Set-Cookie", f"{_COOKIE}={self._cookie}; HttpOnly; SameSite=Strict"))
        return response

    async def logout(self, request: ws.Request) -> ws.Response:
        response = ws.Response.redirect("./", status=303)
        response.headers.append(("Set-Cookie", f"{_COOKIE}=; Max-Age=0; HttpOnly; SameSite=Strict"))
        return response

    async def state(self, request: ws.Request) -> ws.Response:
        if not self.authorised(request):
            return self._refuse()
        return ws.Response.json(await self.snapshot())

    async def snapshot(self) -> dict[str, Any]:
        """Every process: this one (all its lobbies), then the others of each
        cluster backend its lobbies use."""
        lobbies = self.lobbies()
        here = None
        for lobby in lobbies:
            here = here or _node_of(lobby.backend)
        processes = [{"node": here or self.node, "here": True, "lobbies": [await lobby_snapshot(lobby) for lobby in lobbies]}]
        errors: list[str] = []
        seen: set[int] = set()
        for lobby in lobbies:
            backend = lobby.backend
            if id(backend) in seen:
                continue
            seen.add(id(backend))
            others = await backend.admin_snapshots(self.timeout)
            if others is None:
                continue
            for other in others:
                if "error" in other:
                    errors.append(str(other["error"]))
                else:
                    processes.append({**other, "here": False})
        return {"processes": processes, "errors": errors, "time": time.time()}

    async def action(self, request: ws.Request) -> ws.Response:
        if not self.authorised(request, action=True):
            return self._refuse()
        try:
            body = json.loads(request.body or b"{}")
            kind, node, name, room_id = str(body["action"]), body.get("node"), str(body["lobby"]), str(body["room"])
            seat = int(body["seat"]) if body.get("seat") is not None else None
        except (ValueError, KeyError, TypeError):
            return ws.Response.json({"ok": False, "detail": "a JSON body with action, lobby, room (and seat) is needed"}, status=400)
        lobby = next((lb for lb in self.lobbies() if lb.name == name), None)
        if lobby is None:
            return ws.Response.json({"ok": False, "detail": f"no lobby {name!r}"}, status=404)
        here = _node_of(lobby.backend) or self.node
        if node in (None, here) or lobby.room(room_id) is not None:
            return ws.Response.json(act(lobby, kind, room_id, seat))
        answer = await lobby.backend.admin_action(str(node), {"action": kind, "lobby": name, "room": room_id, "seat": seat}, self.timeout)
        return ws.Response.json(answer)


def mount_admin(
    app: ws.App,
    prefix: str = "/admin",
    *,
    token: str | None = None,
    lobbies: Iterable[Lobby] | None = None,
    timeout: float = 2.0,
) -> AdminPage:
    """Serve the admin page at ``prefix/`` (see :mod:`rooms.admin`), behind
    *token* (default: the ``ROOMS_ADMIN_TOKEN`` environment variable;
    ``ValueError`` when neither is set: the page is never open to all).
    *timeout* bounds how long it waits for the other processes of a cluster."""
    token = token or os.environ.get(TOKEN_VARIABLE) or ""
    if not token:
        raise ValueError(f"the admin page needs a token: pass token= or set {TOKEN_VARIABLE}")
    page = AdminPage(app, token, lobbies=lobbies, timeout=timeout)
    base = prefix.rstrip("/")
    app.add_route(base, page.page)
    app.add_route(base + "/", page.page)
    app.add_route(base + "/login", page.login, methods=["POST"])
    app.add_route(base + "/logout", page.logout, methods=["POST"])
    app.add_route(base + "/api/state", page.state)
    app.add_route(base + "/api/action", page.action, methods=["POST"])
    return page


def _login_page(error: str, status: int) -> ws.Response:
    """The form asking for the token (what a request without it gets: 401)."""
    text = f"<p class=error>{html.escape(error)}</p>" if error else ""
    response = ws.Response.html(_LOGIN.replace("<!--error-->", text), status=status)
    response.headers.append(("WWW-Authenticate", 'Bearer realm="rooms admin"'))
    response.headers.append(("Cache-Control", "no-store"))
    return response


_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rooms admin: sign in</title><link rel="icon" href="data:,">
<style>body{font:15px system-ui,sans-serif;margin:4em auto;max-width:24em}input{font:inherit;padding:.3em;width:100%;box-sizing:border-box}
button{font:inherit;margin-top:.6em}.error{color:#b00}</style></head>
<body><h1>rooms admin</h1><!--error-->
<form method="post" action="login"><label>Admin token<br><input type="password" name="token" id="token" autofocus></label>
<button type="submit" id="signin">Sign in</button></form></body></html>
"""
