"""A minimal guest identity for the chess example: a signed cookie, so that a
browser keeps its ratings without an account.

The first visit to the chess page gets a cookie ``chess_guest=<id>.<mac>``: a
random id and an HMAC-SHA256 of it under the server's secret (``HttpOnly``,
``SameSite=Lax``, a year).  The lobby's ``auth`` reads it back: a valid cookie
is the identity ``{"id": "guest-<id>", "name": ?name}``, so the archive and
the ratings follow that browser whatever name it plays under; a missing or
forged cookie plays anonymously (kept in the archive by name, never rated).
Nothing more: no login, no recovery; clearing cookies starts a new guest.

The secret comes from ``CHESS_GUEST_SECRET``, else from a file (``.chess-guest-secret``
next to the SQLite archive, or in the working directory) created on first use,
so cookies stay valid across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

import ws

__all__ = ["GuestIdentity", "COOKIE"]

COOKIE = "chess_guest"
_MAX_NAME = 32


def load_secret(directory: str | os.PathLike[str] = ".") -> bytes:
    """The signing secret: ``CHESS_GUEST_SECRET``, else the secret file in *directory*."""
    value = os.environ.get("CHESS_GUEST_SECRET")
    if value:
        return value.encode()
    path = Path(directory) / ".chess-guest-secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        token = secrets.token_hex(32).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(token)
        return token


class GuestIdentity:
    """Issues and checks guest cookies under *secret* (16 bytes at least)."""

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("a guest secret has at least 16 bytes")
        self._key = key

    def _mac(self, guest: str) -> str:
        return hmac.new(self._key, guest.encode(), hashlib.sha256).hexdigest()[:32]

    def new_cookie(self) -> str:
        """A fresh guest's cookie value."""
        guest = secrets.token_hex(8)
        return f"{guest}.{self._mac(guest)}"

    def guest_of(self, value: str | None) -> str | None:
        """The guest id a cookie value proves, or ``None``."""
        if not value or value.count(".") != 1:
            return None
        guest, mac = value.split(".")
        if len(guest) != 16 or not hmac.compare_digest(mac, self._mac(guest)):
            return None
        return "guest-" + guest

    def set_cookie(self, response: ws.Response, request: ws.Request) -> ws.Response:
        """Give *response* a new guest cookie unless *request* carries a valid one."""
        if self.guest_of(request.cookies.get(COOKIE)) is None:
            response.headers.append(("Set-Cookie", f"{COOKIE}={self.new_cookie()}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"))
        return response

    def auth(self, request: ws.Request) -> dict[str, Any]:
        """The lobby's ``auth``: the guest's id (``None`` without a valid cookie) and ``?name=``."""
        name = (request.query.get("name") or "").strip()[:_MAX_NAME]
        guest = self.guest_of(request.cookies.get(COOKIE))
        identity: dict[str, Any] = {"name": name} if name else {}
        if guest is not None:
            identity["id"] = guest
        return identity
