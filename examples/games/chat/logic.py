"""The rules side of the chat example: pure, no I/O, no asyncio.

:class:`ChatRoom` knows who is in a room (any hashable handle: a socket, a
``rooms.Player``), their nicknames (made unique in the room), a short history,
and each member's :class:`FloodLimit`.  Its methods return the messages to send;
the transports in :mod:`.app` deliver them (an open named room over
``ws.endpoint``, a group of n over ``rooms.Lobby``), so both kinds of room
behave the same and the rules are tested without a server.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import attrs

__all__ = ["ChatRoom", "ChatError", "FloodLimit", "clean_nick", "clean_room_name", "MAX_TEXT", "MAX_NICK"]

MAX_TEXT = 500  # characters in one message
MAX_NICK = 24
MAX_ROOM_NAME = 32
_ROOM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ChatError(ValueError):
    """A message the room refuses; ``error`` is the wire code, ``str(exc)`` the notice."""

    def __init__(self, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.error = error
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"type": "error", "error": self.error, "detail": str(self), **self.extra}


class FloodLimit:
    """A token bucket: *burst* messages at once, refilled at *rate* per second.

    ``allow()`` takes a token if there is one; ``retry_after()`` says how long
    until the next one.  Time comes from *now* so tests can drive it.
    """

    __slots__ = ("rate", "burst", "_tokens", "_at", "_now")

    def __init__(self, rate: float = 2.0, burst: int = 5, *, now: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a flood limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._at = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def allow(self) -> bool:
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def retry_after(self) -> float:
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)


def clean_nick(name: Any, fallback: str = "guest") -> str:
    """A printable nickname of at most MAX_NICK characters (control characters removed)."""
    text = "".join(ch for ch in str(name or "") if ch.isprintable()).strip()
    return " ".join(text.split())[:MAX_NICK] or fallback


def clean_room_name(name: str) -> str:
    """A room name: letters, digits, ``_`` and ``-``, at most 32; raises ChatError."""
    name = name.strip()
    if not name or len(name) > MAX_ROOM_NAME or not _ROOM_RE.match(name):
        raise ChatError("bad_room_name", f"a room name has 1 to {MAX_ROOM_NAME} letters, digits, '-' or '_'")
    return name


@attrs.define(slots=True, eq=False)
class Member:
    nick: str
    flood: FloodLimit
    warned: bool = False


class ChatRoom:
    """Members, nicknames, history and limits of one chat room.

    Outgoing messages (JSON-ready dicts):
    ``{"type": "welcome", "room", "you", "people", "history", "limits"}`` to a newcomer,
    ``{"type": "joined"|"left", "nick", "people"}`` and ``{"type": "chat", "nick", "text", "ts"}``
    to everyone.  Refusals raise :class:`ChatError` (``too_long``, ``empty``, ``flood``).
    """

    def __init__(
        self,
        name: str,
        *,
        max_text: int = MAX_TEXT,
        rate: float = 2.0,
        burst: int = 5,
        history: int = 50,
        max_members: int | None = 64,
        now: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.max_text = max_text
        self.rate = rate
        self.burst = burst
        self.max_members = max_members
        self.members: dict[Hashable, Member] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=history)
        self._now = now
        self._clock = clock

    def __len__(self) -> int:
        return len(self.members)

    def people(self) -> list[str]:
        return [m.nick for m in self.members.values()]

    def limits(self) -> dict[str, Any]:
        return {"max_text": self.max_text, "rate": self.rate, "burst": self.burst}

    def _unique(self, nick: str) -> str:
        taken = {m.nick.casefold() for m in self.members.values()}
        if nick.casefold() not in taken:
            return nick
        for i in range(2, 10_000):
            candidate = f"{nick[: MAX_NICK - len(str(i)) - 1]}-{i}"
            if candidate.casefold() not in taken:
                return candidate
        raise ChatError("room_full", "too many people with this nickname")  # pragma: no cover

    def join(self, handle: Hashable, nick: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Add a member: ``(welcome for them, announcement for the others)``."""
        if self.max_members is not None and len(self.members) >= self.max_members:
            raise ChatError("room_full", f"room {self.name} is full ({self.max_members} people)")
        member = Member(self._unique(clean_nick(nick)), FloodLimit(self.rate, self.burst, now=self._now))
        self.members[handle] = member
        welcome = {
            "type": "welcome",
            "room": self.name,
            "you": member.nick,
            "people": self.people(),
            "history": list(self.history),
            "limits": self.limits(),
        }
        return welcome, {"type": "joined", "nick": member.nick, "people": self.people()}

    def rejoin(self, handle: Hashable) -> dict[str, Any]:
        """A member's welcome again (after a reconnect), without an announcement."""
        member = self.members[handle]
        return {"type": "welcome", "room": self.name, "you": member.nick, "people": self.people(), "history": list(self.history), "limits": self.limits()}

    def leave(self, handle: Hashable) -> dict[str, Any] | None:
        """Remove a member: the announcement for the others (None if unknown)."""
        member = self.members.pop(handle, None)
        if member is None:
            return None
        return {"type": "left", "nick": member.nick, "people": self.people()}

    def say(self, handle: Hashable, text: Any) -> dict[str, Any]:
        """The chat message to broadcast; raises :class:`ChatError` when refused."""
        member = self.members[handle]
        if not isinstance(text, str):
            raise ChatError("bad_message", 'send {"type": "say", "text": "..."}')
        text = text.strip()
        if not text:
            raise ChatError("empty", "empty messages are not sent")
        if len(text) > self.max_text:
            raise ChatError("too_long", f"messages are limited to {self.max_text} characters (this one has {len(text)})", limit=self.max_text)
        if not member.flood.allow():
            wait = member.flood.retry_after()
            raise ChatError(
                "flood",
                f"slow down: at most {self.burst} messages at once and {self.rate:g} a second; try again in {wait:.1f} s",
                retry_after=round(wait, 2),
            )
        message = {"type": "chat", "nick": member.nick, "text": text, "ts": round(self._clock(), 3)}
        self.history.append(message)
        return message

    def handle(self, handle: Hashable, msg: Any) -> dict[str, Any]:
        """A client's decoded message: ``{"type": "say", "text": ...}`` -> the chat message."""
        if not isinstance(msg, dict) or msg.get("type") != "say":
            raise ChatError("bad_message", 'send {"type": "say", "text": "..."}')
        return self.say(handle, msg.get("text"))
