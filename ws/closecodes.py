"""The close codes ``ws`` and ``rooms`` send or report, as one :class:`CloseCode` enum.

An :class:`enum.IntEnum`, so a member is the integer on the wire: it compares
equal to that integer, packs as it (JSON, msgpack) and prints as it
(``f"{code}"`` is ``"1000"``).  The names of the 1000-range codes are those of
the IANA "WebSocket Close Code Number" registry (RFC 6455 11.7), written as
identifiers the way `websockets` does; the 4000-range codes (RFC 6455 7.4.2:
private use) are the rooms layer's.  Which codes may appear in a close frame
is decided in :func:`ws.frames.check_close_code`, not here.
"""

from __future__ import annotations

import enum

__all__ = ["CloseCode"]


class CloseCode(enum.IntEnum):
    """A WebSocket close code (RFC 6455 7.4).

    ``NO_STATUS_RCVD``, ``ABNORMAL_CLOSURE`` and ``TLS_HANDSHAKE`` are never sent
    in a close frame (RFC 6455 7.4.1): they are what an endpoint reports when the
    frame had no code, when the TCP connection ended without a closing handshake,
    and when the TLS handshake failed.
    """

    # RFC 6455 7.4.1 and the IANA registry
    NORMAL_CLOSURE = 1000  # the purpose of the connection is fulfilled
    GOING_AWAY = 1001  # a server shutting down, a browser leaving the page
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003  # a type of data the endpoint cannot accept
    NO_STATUS_RCVD = 1005  # reported only: the close frame carried no code
    ABNORMAL_CLOSURE = 1006  # reported only: no close frame at all
    INVALID_PAYLOAD = 1007  # IANA "Invalid frame payload data": bad UTF-8 (ws.InvalidPayload)
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010  # the client expected an extension the server did not accept
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # reported only
    # rooms (RFC 6455 7.4.2: 4000-4999 are for applications); see rooms.CLOSE_CODES
    LOBBY_TIMEOUT = 4000  # no match within the lobby's max_wait
    INVALID_TOKEN = 4001  # a seat token that does not verify
    SEAT_UNAVAILABLE = 4002  # the token's seat is not held (its player left on purpose, or no reconnect)
    UNKNOWN_ROOM = 4004  # no such waiting private room, running room, or room to resume
    REPLACED = 4005  # the seat was taken over by a newer connection with the same token
    SEAT_EXPIRED = 4006  # the seat's reconnection grace time ran out
