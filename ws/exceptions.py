"""The exceptions of ``ws``, and the one place that maps them to close codes.

::

    asyncio.CancelledError
     └── Closed                the connection is closed (a disconnect cancels game code)

    WSError                    root of everything else ``ws`` raises
     ├── ProtocolError         the peer broke RFC 6455 / RFC 7692 (close 1002)
     │    ├── InvalidPayload   invalid UTF-8 or undecodable payload (close 1007)
     │    ├── PolicyViolation  the peer broke a policy of ours (close 1008)
     │    └── PayloadTooBig    a frame or message over the size limit (close 1009)
     ├── HTTPError             a request or response we refuse, with its HTTP status
     │    └── InvalidHandshake the WebSocket opening handshake failed
     └── InvalidURI            ``connect()`` was given a URL it cannot use

``ProtocolError`` and its subclasses carry the close code we send; ``HTTPError``
carries the status we answer.  :func:`close_code_for` is the one mapping from an
exception to the close code we send: the core calls it when a peer fault fails
the connection, ``ws.endpoint`` and ``ws.aggregate`` when a handler ends.  Local misuse (sending on a closed socket, calling
``close`` twice) raises ``Closed`` or ``RuntimeError``/``ValueError``, never a
peer-fault type.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .closecodes import CloseCode

if TYPE_CHECKING:
    from .messages import CloseMessage

__all__ = [
    "Closed",
    "WSError",
    "ProtocolError",
    "InvalidPayload",
    "PolicyViolation",
    "PayloadTooBig",
    "HTTPError",
    "InvalidHandshake",
    "InvalidURI",
    "closed_in_group",
    "close_code_for",
]


class Closed(asyncio.CancelledError):
    """The WebSocket connection is closed.

    As in the seed API, a disconnect reaches game code as cancellation: this is a
    subclass of :class:`asyncio.CancelledError`.  ``args[0]`` is the close message
    received from the peer when there was one (``None`` otherwise).  ``code`` and
    ``reason`` describe how the connection ended: the peer's close code, the code we
    sent when we closed first, or 1006 when the TCP connection was lost without a
    closing handshake.  ``socket`` is the connection that closed (useful with ``mux``).
    """

    def __init__(
        self,
        message: CloseMessage | None = None,
        *,
        code: int = CloseCode.ABNORMAL_CLOSURE,
        reason: str = "",
        socket: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.socket = socket

    @property
    def message(self) -> CloseMessage | None:
        """The close message received from the peer, if any."""
        message: CloseMessage | None = self.args[0]
        return message

    def __str__(self) -> str:
        text = f"connection closed with code {self.code}"
        return f"{text}: {self.reason}" if self.reason else text

    def __reduce__(self) -> Any:  # keep the keyword-only fields when copied or pickled
        return (_rebuild_closed, (self.args[0], self.code, self.reason))


def _rebuild_closed(message: Any, code: int, reason: str) -> Closed:
    return Closed(message, code=code, reason=reason)


class WSError(Exception):
    """Root of the exceptions raised by ``ws`` (other than :class:`Closed`)."""


class ProtocolError(WSError):
    """The peer violated the WebSocket protocol.  We close with :attr:`code`."""

    code: int = CloseCode.PROTOCOL_ERROR  # RFC 6455 7.4.1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidPayload(ProtocolError):
    """A text message or close reason that is not valid UTF-8, or a payload we cannot decode."""

    code = CloseCode.INVALID_PAYLOAD  # RFC 6455 7.4.1: data inconsistent with the message type


class PolicyViolation(ProtocolError):
    """The peer broke a policy of this endpoint (for example a slow consumer)."""

    code = CloseCode.POLICY_VIOLATION  # RFC 6455 7.4.1


class PayloadTooBig(ProtocolError):
    """A frame or a (decompressed) message exceeds the configured size limit."""

    code = CloseCode.MESSAGE_TOO_BIG  # RFC 6455 7.4.1: message too big to process


class HTTPError(WSError):
    """An HTTP request (or, on the client, response) that we refuse.

    ``status`` is the HTTP status code the server answers with, ``headers`` extra
    response headers (e.g. ``Sec-WebSocket-Version`` with 426).
    """

    def __init__(
        self,
        status: int,
        reason: str = "",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.headers = headers or []


class InvalidHandshake(HTTPError):
    """The WebSocket opening handshake failed (on either side)."""


class InvalidURI(WSError):
    """A URL given to ``connect()`` is not a ``ws://`` or ``wss://`` URL."""


def closed_in_group(errors: BaseExceptionGroup) -> Closed | None:
    """The :class:`Closed` inside *errors* when the group holds nothing else.

    A ``TaskGroup`` reports a ``Closed`` raised in its body as a
    ``BaseExceptionGroup`` (Python 3.11): such a group is just the disconnect.
    """
    matched, rest = errors.split(Closed)
    if matched is None or rest is not None:
        return None
    leaf: BaseException = matched
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf  # type: ignore[return-value]


def close_code_for(exc: BaseException | None) -> int:
    """The close code to send when *exc* ends a connection (``None``: nothing went wrong).

    The one mapping from exceptions to close codes, used by the core when a peer
    fault fails the connection and by ``ws.endpoint``/``ws.aggregate`` when a
    handler ends:

    - ``None``, :class:`Closed` (a peer left) or a group holding only ``Closed``:
      1000 ``NORMAL_CLOSURE``;
    - another :class:`asyncio.CancelledError` (the server is shutting down):
      1001 ``GOING_AWAY``;
    - a :class:`ProtocolError`: its own :attr:`~ProtocolError.code` (1002, 1007,
      1008, 1009);
    - anything else: 1011 ``INTERNAL_ERROR``, whose details must not leak to the peer.
    """
    if exc is None or isinstance(exc, Closed):
        return CloseCode.NORMAL_CLOSURE
    if isinstance(exc, asyncio.CancelledError):
        return CloseCode.GOING_AWAY
    if isinstance(exc, ProtocolError):
        return exc.code
    if isinstance(exc, BaseExceptionGroup) and closed_in_group(exc) is not None:
        return CloseCode.NORMAL_CLOSURE
    return CloseCode.INTERNAL_ERROR
