"""Where an opening handshake ends, on either side: the transport goes to a WebSocket.

The server (:meth:`ws.server.HTTPConnection.upgrade`, after its 101) and the
client (:func:`ws.connect` and :func:`ws.client`, after reading the 101) finish
the same way, written once here: build the sans-I/O
:class:`~ws.protocol.Connection` for what was negotiated, wrap it in a
:class:`~ws.connection.WebSocket`, make that the transport's protocol and feed
it the bytes that arrived behind the handshake.  :func:`options_from` is the
shared reading of the ``options=`` and limit keywords that ``ws.endpoint``,
``ws.accept``, ``ws.connect`` and ``ws.client`` take.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import attrs

from .connection import Options, WebSocket
from .handshake import Negotiated
from .http import Request
from .protocol import Connection, Side

__all__ = ["open_websocket", "options_from"]


def options_from(options: Options | None, limits: Mapping[str, Any]) -> Options:
    """*options* (default :class:`Options`) with the keyword *limits* applied on top.

    Raises :class:`TypeError` for a keyword that is not a field of :class:`Options`.
    """
    if options is None:
        return Options(**limits)
    return attrs.evolve(options, **limits) if limits else options


def open_websocket(
    transport: asyncio.Transport,
    side: Side,
    options: Options,
    negotiated: Negotiated,
    *,
    request: Request | None = None,
    leftover: bytes = b"",
    resume_reading: bool = False,
) -> WebSocket:
    """Hand *transport*, whose opening handshake is done, to a new :class:`WebSocket`.

    *leftover* holds the bytes read behind the handshake: frames the peer sent
    at once, fed to the socket after it has the transport, so none are lost.
    ``resume_reading`` is for a transport whose previous reader may have paused
    it (a ``StreamReader``); it resumes before *leftover* is fed, so that a
    pause the WebSocket itself decides (a full queue) stands.
    """
    conn = Connection(
        side,
        max_message_size=options.max_message_size,
        max_frame_size=options.max_frame_size,
        deflate=negotiated.deflate,
    )
    sock = WebSocket(
        conn,
        options=options,
        request=request,
        subprotocol=negotiated.subprotocol,
        extensions=negotiated.extensions,
        is_server=side is Side.SERVER,
    )
    transport.set_protocol(sock)
    sock.connection_made(transport)
    if resume_reading:
        transport.resume_reading()
    if leftover:
        sock.data_received(leftover)
    return sock
