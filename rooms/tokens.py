"""Seat tokens: signed, unguessable, bound to one room and one seat.

A token is ``<room>.<seat>.<nonce>.<mac>`` in URL-safe base64 pieces, where the
MAC is HMAC-SHA256 over the first three parts with a server secret.  Guessing
needs the 128-bit nonce and the secret; a token for another room or seat fails
the binding check before the room even looks at it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import attrs

__all__ = ["SeatToken", "TokenSigner"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@attrs.frozen(slots=True)
class SeatToken:
    room_id: str
    seat: int
    nonce: str


class TokenSigner:
    """Issues and verifies seat tokens with one secret (share it across a cluster)."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes | str | None = None) -> None:
        if secret is None:
            secret = secrets.token_bytes(32)
        if isinstance(secret, str):
            secret = secret.encode()
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 bytes")
        self._key = secret

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(self, room_id: str, seat: int) -> tuple[str, SeatToken]:
        """A new token for *seat* of *room_id*: ``(string for the client, parsed token)``."""
        token = SeatToken(room_id, seat, _b64(secrets.token_bytes(16)))
        body = f"{room_id}.{seat}.{token.nonce}"
        return f"{body}.{self._mac(body)}", token

    def sign(self, room_id: str, seat: int, nonce: str) -> str:
        """The token of seat *seat* of room *room_id* with *nonce* (the one
        ``issue`` gave, e.g. read back from a room's log)."""
        body = f"{room_id}.{seat}.{nonce}"
        return f"{body}.{self._mac(body)}"

    def verify(self, text: str) -> SeatToken | None:
        """The token *text* stands for, or None if it is malformed or forged."""
        if not isinstance(text, str) or len(text) > 512:
            return None
        parts = text.split(".")
        if len(parts) != 4:
            return None
        room_id, seat, nonce, mac = parts
        if not seat.isdigit() or len(seat) > 4:
            return None
        if not hmac.compare_digest(mac, self._mac(f"{room_id}.{seat}.{nonce}")):
            return None
        return SeatToken(room_id, int(seat), nonce)
