"""``endpoint`` and ``aggregate``: request handlers that upgrade to WebSocket.

``endpoint(handler)`` calls ``handler(request, sock, **route_args)`` with one
connection.  ``aggregate(n, handler)`` gathers n connections with the same key
(the request path unless told otherwise) and calls
``handler(request, socks, **route_args)`` once with all of them.  In both, when
the handler returns the sockets are closed with 1000, when it raises with 1011,
and a disconnect reaches the handler as :class:`ws.Closed`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from typing import Any

import attrs

from . import handshake
from .asgisocket import ASGIConnection, ASGISocket
from .connection import Options, WebSocket
from .deflate import DeflateConfig, Deflater, Inflater, server_negotiate
from .exceptions import Closed, closed_in_group
from .http import Request
from .protocol import Connection, Side
from .server import UPGRADED

__all__ = ["endpoint", "aggregate", "accept"]

logger = logging.getLogger("ws")

_DEFAULT_DEFLATE = DeflateConfig()


@attrs.frozen(kw_only=True)
class _Config:
    options: Options
    subprotocols: Sequence[str] = ()
    origins: Collection[str | None] | None = None
    compression: DeflateConfig | None = _DEFAULT_DEFLATE


def _config(
    subprotocols: Sequence[str] = (),
    origins: Collection[str | None] | None = None,
    compression: DeflateConfig | bool | None = True,
    options: Options | None = None,
    **limits: Any,
) -> _Config:
    if options is None:
        options = Options(**limits)
    elif limits:
        options = attrs.evolve(options, **limits)
    if compression is True:
        compression = _DEFAULT_DEFLATE
    elif compression is False:
        compression = None
    return _Config(options=options, subprotocols=tuple(subprotocols), origins=origins, compression=compression)


def accept(
    request: Request,
    *,
    subprotocols: Sequence[str] = (),
    origins: Collection[str | None] | None = None,
    compression: DeflateConfig | bool | None = True,
    options: Options | None = None,
    **limits: Any,
) -> WebSocket | ASGISocket:
    """Validate *request* as an opening handshake (RFC 6455 4.2) and upgrade it.

    For handlers that decide themselves when to upgrade (``endpoint`` and
    ``aggregate`` call it for you).  Takes the same keywords as :func:`endpoint`.
    Raises :class:`ws.HTTPError` (400, 403, 405, 426) when the request is not an
    acceptable upgrade; the server turns that into the HTTP response.  For a
    request received through :func:`ws.asgi` it returns a :class:`ws.ASGISocket`
    (the ASGI server validated the handshake and negotiates compression).
    """
    return _accept(request, _config(subprotocols, origins, compression, options, **limits))


def _accept(request: Request, config: _Config) -> WebSocket | ASGISocket:
    http = request._conn
    if http is None:
        raise RuntimeError("accept() needs a request received by ws.serve() or ws.asgi()")
    if isinstance(http, ASGIConnection):
        return _accept_asgi(request, http, config)
    key = handshake.check_request(request)
    handshake.check_origin(request, config.origins)
    subprotocol = handshake.select_subprotocol(request, config.subprotocols) if config.subprotocols else None
    deflate = None
    extensions = None
    offers = request.headers.get_all("Sec-WebSocket-Extensions")
    if config.compression is not None and offers:
        params = server_negotiate(handshake.parse_extension_header(offers), config.compression)
        if params is not None:
            deflate = (
                Deflater(params, is_server=True, level=config.compression.level),
                Inflater(params, is_server=True),
                config.compression.compress_threshold,
            )
            extensions = params.to_header()
    options = config.options
    conn = Connection(
        Side.SERVER,
        max_message_size=options.max_message_size,
        max_frame_size=options.max_frame_size,
        deflate=deflate,
    )
    headers = handshake.response_headers(key, subprotocol=subprotocol, extensions=extensions)
    return http.upgrade(request, headers, conn, options, subprotocol=subprotocol, extensions=extensions)


def _accept_asgi(request: Request, http: ASGIConnection, config: _Config) -> ASGISocket:
    """The ASGI server has validated the handshake and will negotiate compression
    itself: what is ours is the origin policy, the subprotocol and the options."""
    if not http.is_websocket:
        handshake.check_request(request)  # a plain request: refused as over TCP
    handshake.check_origin(request, config.origins)
    subprotocol = handshake.select_subprotocol(request, config.subprotocols) if config.subprotocols else None
    return http.accept(request, config.options, subprotocol)


async def _finish(socks: Sequence[WebSocket], code: int, reason: str) -> None:
    """Close every socket that is still open, and wait (bounded) for the handshakes."""
    for sock in socks:
        sock.close(code, reason)
    await asyncio.gather(*(sock.wait_closed() for sock in socks))


async def _run_handler(handler: Awaitable[Any], socks: Sequence[WebSocket], fn: Any) -> None:
    """Await a WebSocket handler, then close its sockets with the fitting code:
    1000 when it returns or a peer left (Closed), 1001 when it is cancelled
    (server shutdown), 1011 when it raised (the error is logged, not sent)."""
    code, reason = 1000, ""
    try:
        await handler
    except Closed:
        pass
    except asyncio.CancelledError:
        code, reason = 1001, "going away"
        raise
    except Exception:
        logger.exception("error in WebSocket handler %s", getattr(fn, "__qualname__", fn))
        code, reason = 1011, "internal error"
    except BaseExceptionGroup as errors:
        if closed_in_group(errors) is None:
            code, reason = 1011, "internal error"
            raise
    finally:
        await _finish(socks, code, reason)


def _wrap(handler: Callable[..., Awaitable[Any]], make: Callable[..., Any]) -> Any:
    @functools.wraps(handler)
    async def wrapper(request: Request, **params: Any) -> Any:
        return await make(request, params)

    return wrapper


def endpoint(
    handler: Callable[..., Awaitable[Any]] | None = None,
    *,
    subprotocols: Sequence[str] = (),
    origins: Collection[str | None] | None = None,
    compression: DeflateConfig | bool | None = True,
    options: Options | None = None,
    **limits: Any,
) -> Any:
    """Make a request handler that upgrades to WebSocket and calls ``handler(request, sock, **route_args)``.

    Use as ``@ws.endpoint`` or ``@ws.endpoint(origins=[...], max_message_size=...)``.
    ``origins`` lists allowed ``Origin`` values (403 otherwise; ``None`` allows all);
    ``compression`` enables permessage-deflate (on by default); the other keywords
    are :class:`ws.Options` limits.
    """
    config = _config(subprotocols, origins, compression, options, **limits)

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Any:
        # The request handler itself (no wrapper around it): one coroutine less per
        # connection, which lives as long as the connection.
        @functools.wraps(fn)
        async def run(request: Request, **params: Any) -> Any:
            sock = _accept(request, config)
            await _run_handler(fn(request, sock, **params), [sock], fn)
            return UPGRADED

        return run

    return decorate(handler) if handler is not None else decorate


@attrs.define(slots=True, eq=False)
class _Group:
    """Connections waiting for the same key, until there are n of them."""

    key: Hashable
    members: list[WebSocket] = attrs.field(factory=list)
    done: asyncio.Future | None = None


def aggregate(
    n: int,
    handler: Callable[..., Awaitable[Any]] | None = None,
    *,
    key: Callable[[Request], Hashable] | None = None,
    subprotocols: Sequence[str] = (),
    origins: Collection[str | None] | None = None,
    compression: DeflateConfig | bool | None = True,
    options: Options | None = None,
    **limits: Any,
) -> Any:
    """Gather *n* connections with the same key, then call ``handler(request, socks, **route_args)``.

    *key* maps a request to its group (default: the request path).  ``request``
    is the first member's request; each socket's own is ``sock.request``.  A
    waiting client that disconnects leaves its group at once.  When the handler
    returns, every socket is closed with 1000; when it raises, with 1011.
    Use as ``@ws.aggregate(2)`` or ``ws.aggregate(2, handler)``.
    """
    if n < 1:
        raise ValueError("aggregate() needs n >= 1")
    config = _config(subprotocols, origins, compression, options, **limits)
    groups: dict[Hashable, _Group] = {}
    key_of = key or (lambda request: request.path)

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Any:
        async def run(request: Request, params: dict[str, Any]) -> Any:
            group_key = key_of(request)
            sock = _accept(request, config)
            group = groups.get(group_key)
            if group is None:
                group = groups[group_key] = _Group(group_key, done=asyncio.get_running_loop().create_future())
            group.members.append(sock)
            if len(group.members) < n:
                return await _wait(group, sock)
            del groups[group_key]
            socks = list(group.members)
            try:
                await _run_handler(fn(socks[0].request, socks, **params), socks, fn)
            finally:
                group.done.set_result(None)
            return UPGRADED

        async def _wait(group: _Group, sock: WebSocket) -> Any:
            """Hold this connection until its group's handler ends, or it leaves first."""
            left = asyncio.get_running_loop().create_future()

            def on_close(_: WebSocket) -> None:
                if groups.get(group.key) is group and sock in group.members:
                    group.members.remove(sock)
                    if not group.members:
                        del groups[group.key]
                if not left.done():
                    left.set_result(None)

            sock.add_close_callback(on_close)
            # A close frame while waiting: answer it and let the TCP close trigger on_close.
            try:
                await asyncio.wait([group.done, left], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                if groups.get(group.key) is group and sock in group.members:
                    group.members.remove(sock)
                    if not group.members:
                        del groups[group.key]
                await _finish([sock], 1001, "going away")
                raise
            finally:
                sock.remove_close_callback(on_close)
            return UPGRADED

        wrapper = _wrap(fn, run)
        wrapper.waiting = lambda: {k: len(g.members) for k, g in groups.items()}  # type: ignore[attr-defined]
        return wrapper

    return decorate(handler) if handler is not None else decorate

