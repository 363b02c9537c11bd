"""The client side: ``connect(url)`` and the seed's ``client(path, reader, writer)``.

Both run the opening handshake (RFC 6455 4.1) and return a
:class:`ws.connection.WebSocket` that masks every frame it sends.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, cast

from . import handshake
from .connection import Options, WebSocket
from .deflate import DeflateConfig, client_offer, compression_config
from .exceptions import HTTPError, InvalidHandshake, InvalidURI
from .http11 import ResponseParser, StatusHead, serialize_request
from .protocol import Side
from .upgrade import open_websocket, options_from

__all__ = ["connect", "client"]


def _parse_url(url: str) -> tuple[bool, str, int, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{url!r} is not a ws:// or wss:// URL")
    if not parts.hostname:
        raise InvalidURI(f"{url!r} has no host")
    if parts.username or parts.password:
        raise InvalidURI(f"{url!r}: credentials in the URL are not supported")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return secure, parts.hostname, port, path


def _host_header(host: str, port: int, secure: bool) -> str:
    if ":" in host:
        host = f"[{host}]"
    return host if port == (443 if secure else 80) else f"{host}:{port}"


class _Handshake:
    """The client's opening handshake, sans-I/O: request bytes out, response head in."""

    def __init__(
        self,
        host: str,
        path: str,
        *,
        origin: str | None,
        subprotocols: Sequence[str],
        compression: DeflateConfig | None,
        extra_headers: Iterable[tuple[str, str]],
    ) -> None:
        self.key = handshake.make_key()
        self.subprotocols = tuple(subprotocols)
        self.compression = compression
        headers = handshake.request_headers(
            host,
            self.key,
            origin=origin,
            subprotocols=self.subprotocols,
            extensions=client_offer(compression) if compression is not None else None,
            extra=extra_headers,
        )
        self.request = serialize_request("GET", path, headers)

    def finish(self, head: StatusHead) -> handshake.Negotiated:
        """Validate the server's response head; raises :class:`InvalidHandshake`."""
        return handshake.client_negotiation(
            head, self.key, subprotocols=self.subprotocols, compression=self.compression
        )


class _ClientProtocol(asyncio.Protocol):
    """Speaks HTTP until the 101, then hands the transport to the WebSocket."""

    def __init__(self, hs: _Handshake, options: Options, done: asyncio.Future[WebSocket]) -> None:
        self._hs = hs
        self._options = options
        self._done = done
        self._parser = ResponseParser()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        transport.write(self._hs.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None  # asyncio calls connection_made first
        try:
            self._parser.feed(data)
            head = self._parser.next_response()
            if head is None:
                return
            negotiated = self._hs.finish(head)
        except HTTPError as exc:
            if not self._done.done():
                self._done.set_exception(exc if isinstance(exc, InvalidHandshake) else InvalidHandshake(exc.status, exc.reason))
            transport.close()
            return
        leftover = self._parser.take_buffer()
        sock = open_websocket(transport, Side.CLIENT, self._options, negotiated, leftover=leftover)
        if not self._done.done():
            self._done.set_result(sock)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_exception(InvalidHandshake(0, "connection closed during the opening handshake"))


async def connect(
    url: str,
    *,
    ssl: _ssl.SSLContext | bool | None = None,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    compression: DeflateConfig | bool | None = True,
    extra_headers: Iterable[tuple[str, str]] = (),
    open_timeout: float | None = 10.0,
    options: Options | None = None,
    **limits: Any,
) -> WebSocket:
    """Open a client connection to a ``ws://`` or ``wss://`` URL.

    Raises :class:`ws.InvalidURI`, :class:`ws.InvalidHandshake` (the status is the
    server's when it refused the upgrade), :class:`TimeoutError` after
    *open_timeout* seconds, or :class:`OSError` when the TCP connection fails.
    """
    secure, host, port, path = _parse_url(url)
    options = options_from(options, limits)
    if secure and ssl is None:
        ssl = True
    elif not secure and ssl:
        raise InvalidURI("ssl= given for a ws:// URL; use wss://")
    hs = _Handshake(
        _host_header(host, port, secure),
        path,
        origin=origin,
        subprotocols=subprotocols,
        compression=compression_config(compression),
        extra_headers=extra_headers,
    )
    loop = asyncio.get_running_loop()
    done: asyncio.Future[WebSocket] = loop.create_future()
    try:
        async with asyncio.timeout(open_timeout):
            transport, _ = await loop.create_connection(
                lambda: _ClientProtocol(hs, options, done), host, port, ssl=ssl or None
            )
            try:
                return await done
            except BaseException:
                transport.abort()
                raise
    finally:
        # Cancelled (or timed out) before awaiting *done*: nobody will read it, and
        # the connection's end must not leave an exception in it ("never retrieved").
        if not done.done():
            done.cancel()


async def client(
    path: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    host: str | None = None,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    compression: DeflateConfig | bool | None = True,
    options: Options | None = None,
    **limits: Any,
) -> WebSocket:
    """The seed's ``client(path, reader, writer)``: a client WebSocket over open streams.

    The handshake is read through *reader*; then the transport under *writer*
    is handed to the returned WebSocket (the streams are not used afterwards).
    """
    options = options_from(options, limits)
    transport = cast(asyncio.Transport, writer.transport)  # a stream's transport reads too
    if host is None:
        peer = transport.get_extra_info("peername")
        host = _host_header(str(peer[0]), int(peer[1]), transport.get_extra_info("sslcontext") is not None) if peer else "localhost"
    hs = _Handshake(
        host,
        path,
        origin=origin,
        subprotocols=subprotocols,
        compression=compression_config(compression),
        extra_headers=(),
    )
    writer.write(hs.request)
    parser = ResponseParser()
    head = None
    while head is None:
        chunk = await reader.read(65536)
        if not chunk:
            raise InvalidHandshake(0, "connection closed during the opening handshake")
        parser.feed(chunk)
        head = parser.next_response()
    negotiated = hs.finish(head)
    # Bytes after the 101 are frames: take them from our parser and from the
    # StreamReader's buffer (no public API hands that over), then the transport,
    # which the StreamReader may have paused when its buffer filled up.
    leftover = parser.take_buffer() + bytes(getattr(reader, "_buffer", b""))
    return open_websocket(transport, Side.CLIENT, options, negotiated, leftover=leftover, resume_reading=True)
