"""Messages, as the seed API describes them.

A text message *is* a ``str`` and a binary message *is* a ``bytes``: game code
can pass them anywhere a string or bytes goes.  Each carries the ``is_*``
predicates of the seed's ``Message``.
"""

from __future__ import annotations

from .closecodes import CloseCode

__all__ = [
    "Message",
    "TextMessage",
    "DataMessage",
    "PingMessage",
    "PongMessage",
    "CloseMessage",
]


class Message:
    """A single WebSocket message; you will see its subclasses instead."""

    __slots__ = ()

    is_text = False
    is_data = False
    is_ping = False
    is_pong = False
    is_close = False


class TextMessage(str, Message):
    """A text message: a ``str`` (decoded from UTF-8)."""

    __slots__ = ()
    is_text = True


class DataMessage(bytes, Message):
    """A binary message: a ``bytes``."""

    __slots__ = ()
    is_data = True


class PingMessage(bytes, Message):
    """A ping's payload.  Pings are answered automatically."""

    __slots__ = ()
    is_ping = True


class PongMessage(bytes, Message):
    """A pong's payload: the answer to a ping we sent (or an unsolicited heartbeat)."""

    __slots__ = ()
    is_pong = True


class CloseMessage(bytes, Message):
    """The close frame's payload: a 2-byte code followed by a UTF-8 reason.

    The connection is already closed (or closing) when you see one; it arrives as
    ``ws.Closed.args[0]``.  An empty payload means "no status code" (1005).
    """

    __slots__ = ()
    is_close = True

    @classmethod
    def build(cls, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> CloseMessage:
        """Build the payload for *code* and *reason* (1005 means an empty payload)."""
        if code == CloseCode.NO_STATUS_RCVD:
            return cls(b"")
        return cls(code.to_bytes(2, "big") + reason.encode())

    @property
    def code(self) -> int:
        """The close status code; 1005 when the frame carried none (RFC 6455 7.1.5)."""
        return int.from_bytes(self[:2], "big") if len(self) >= 2 else CloseCode.NO_STATUS_RCVD

    @property
    def reason(self) -> str:
        """The close reason (validated as UTF-8 when the frame was parsed)."""
        return self[2:].decode(errors="replace")

    def __repr__(self) -> str:
        return f"CloseMessage(code={self.code}, reason={self.reason!r})"
