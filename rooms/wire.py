"""The messages the rooms layer sends, one function each: what docs/protocol.md
specifies, built in one place for the lobby, the room and the cluster alike.

Each function returns the JSON object (a dict, in the field order of the
spec); the caller encodes and sends it (``Player.send``, ``Room.broadcast``,
``Entrant.send``).  A *player* object is ``Player.info()``:
``{"seat", "name", "connected"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "lobby_status",
    "lobby_paused",
    "matched",
    "player_left",
    "player_returned",
    "resumed",
    "spectating",
    "error",
    "ended",
]

Json = dict[str, Any]

_PAUSED = "matchmaking is paused: the server cannot reach its cluster; you keep your place"


def lobby_status(have: int, need: int, position: int, code: str | None = None) -> Json:
    """``lobby``: *have* of *need* players wait in this queue; this one is at *position*
    (from 1); *code* only in a private room."""
    status: Json = {"type": "lobby", "have": have, "need": need, "position": position}
    if code is not None:
        status["code"] = code
    return status


def lobby_paused(need: int, code: str | None = None) -> Json:
    """``lobby`` with ``status: paused``: a cluster cannot match now; the player keeps their place."""
    status: Json = {"type": "lobby", "status": "paused", "need": need, "detail": _PAUSED}
    if code is not None:
        status["code"] = code
    return status


def matched(room_id: str, seat: int, token: str, reconnect: float | None, players: Sequence[Json]) -> Json:
    """``matched``: a seat in room *room_id*, its token, the grace time, everyone seated."""
    return {"type": "matched", "room": room_id, "seat": seat, "token": token, "reconnect": reconnect, "players": list(players)}


def player_left(player: Json, reconnect: float | None) -> Json:
    """``player_left``: *player*'s connection closed; the seat is held *reconnect*
    seconds, or (``None``) they are gone for good."""
    return {"type": "player_left", "player": player, "reconnect": reconnect}


def player_returned(player: Json) -> Json:
    """``player_returned``: *player* took their seat back."""
    return {"type": "player_returned", "player": player}


def resumed(room_id: str, seat: int, players: Sequence[Json], state: Any) -> Json:
    """``resumed``: a reconnect took *seat* back; *state* lets the client redraw."""
    return {"type": "resumed", "room": room_id, "seat": seat, "players": list(players), "state": state}


def spectating(room_id: str, players: Sequence[Json], state: Any) -> Json:
    """``spectating``: this connection watches room *room_id*."""
    return {"type": "spectating", "room": room_id, "players": list(players), "state": state}


def error(code: str, detail: str) -> Json:
    """``error``: a stable *code* for programs and a *detail* for people."""
    return {"type": "error", "error": code, "detail": detail}


def ended(room_id: str, result: Any = None, *, error: str | None = None) -> Json:
    """``ended``: the game's *result*; or, when it failed, ``result: null`` and an *error* sentence."""
    if error is None:
        return {"type": "ended", "room": room_id, "result": result}
    return {"type": "ended", "room": room_id, "result": None, "error": error}
