"""``endpoint`` and ``aggregate``: request handlers that upgrade to WebSocket.

``endpoint(handler)`` calls ``handler(request, sock, **route_args)`` with one
connection.  ``aggregate(n, handler)`` gathers n connections with the same key
(the request path unless told otherwise) and calls
``handler(request, socks, **route_args)`` once with all of them.  In both, when
the handler returns the sockets are closed with 1000, when it raises with 1011
(a :class:`ws.ProtocolError` with its own code), and a disconnect reaches the
handler as :class:`ws.Closed`: the code is :func:`ws.exceptions.close_code_for`
of how the handler ended.
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
from .closecodes import CloseCode
from .connection import Options, WebSocket
from .deflate import DeflateConfig, compression_config
from .exceptions import Closed, ProtocolError, close_code_for, closed_in_group
from .http import Request
from .server import UPGRADED
from .socket import MessageSocket
from .upgrade import options_from

__all__ = ["endpoint", "aggregate", "accept"]

logger = logging.getLogger("ws")

# The reason sent with each code a handler's end maps to (a ProtocolError sends its own).
_REASONS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.INTERNAL_ERROR: "internal error",  # never the exception's text: it stays in the log
}


@attrs.frozen(kw_only=True)
class _Config:
    options: Options
    subprotocols: Sequence[str]
    origins: Collection[str | None] | None
    compression: DeflateConfig | None


def _config(
    subprotocols: Sequence[str] = (),
    origins: Collection[str | None] | None = None,
    compression: DeflateConfig | bool | None = True,
    options: Options | None = None,
    **limits: Any,
) -> _Config:
    return _Config(
        options=options_from(options, limits),
        subprotocols=tuple(subprotocols),
        origins=origins,
        compression=compression_config(compression),
    )


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
    http = request.connection
    if http is None:
        raise RuntimeError("accept() needs a request received by ws.serve() or ws.asgi()")
    if isinstance(http, ASGIConnection):
        return _accept_asgi(request, http, config)
    key = handshake.check_request(request)
    handshake.check_origin(request, config.origins)
    negotiated = handshake.server_negotiation(request, subprotocols=config.subprotocols, compression=config.compression)
    headers = handshake.response_headers(key, subprotocol=negotiated.subprotocol, extensions=negotiated.extensions)
    sock: WebSocket = http.upgrade(request, headers, config.options, negotiated)
    return sock


def _accept_asgi(request: Request, http: ASGIConnection, config: _Config) -> ASGISocket:
    """The ASGI server has validated the handshake and will negotiate compression
    itself: what is ours is the origin policy, the subprotocol and the options."""
    if not http.is_websocket:
        handshake.check_request(request)  # a plain request: refused as over TCP
    handshake.check_origin(request, config.origins)
    subprotocol = handshake.select_subprotocol(request, config.subprotocols) if config.subprotocols else None
    return http.accept(request, config.options, subprotocol)


async def _finish(socks: Sequence[MessageSocket], error: BaseException | None) -> None:
    """Close every socket that is still open with the code for *error* (see
    :func:`close_code_for`), and wait (bounded) for the closing handshakes."""
    code = close_code_for(error)
    reason = error.reason if isinstance(error, ProtocolError) else _REASONS.get(code, "")
    for sock in socks:
        sock.close(code, reason)
    await asyncio.gather(*(sock.wait_closed() for sock in socks))


async def _run_handler(handler: Awaitable[Any], socks: Sequence[MessageSocket], fn: Any) -> None:
    """Await a WebSocket handler, then close its sockets with the code for how it
    ended (:func:`close_code_for`): 1000 when it returns or a peer left (Closed),
    1001 when it is cancelled (server shutdown), a :class:`ProtocolError`'s own
    code, 1011 when it raised anything else (the error is logged, not sent)."""
    error: BaseException | None = None
    try:
        await handler
    except Closed:
        pass
    except asyncio.CancelledError as exc:
        error = exc
        raise
    except Exception as exc:
        logger.exception("error in WebSocket handler %s", getattr(fn, "__qualname__", fn))
        error = exc
    except BaseExceptionGroup as errors:
        error = errors
        if closed_in_group(errors) is None:
            raise
    finally:
        await _finish(socks, error)


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
    members: list[MessageSocket] = attrs.field(factory=list)
    done: asyncio.Future[None] = attrs.field(factory=lambda: asyncio.get_running_loop().create_future())


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
    returns, every socket is closed with 1000; when it raises, with 1011 (see
    :func:`ws.exceptions.close_code_for`).
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
                group = groups[group_key] = _Group(group_key)
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

        async def _wait(group: _Group, sock: MessageSocket) -> Any:
            """Hold this connection until its group's handler ends, or it leaves first."""
            left = asyncio.get_running_loop().create_future()

            def on_close(_: MessageSocket) -> None:
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
            except asyncio.CancelledError as exc:
                if groups.get(group.key) is group and sock in group.members:
                    group.members.remove(sock)
                    if not group.members:
                        del groups[group.key]
                await _finish([sock], exc)
                raise
            finally:
                sock.remove_close_callback(on_close)
            return UPGRADED

        wrapper = _wrap(fn, run)
        wrapper.waiting = lambda: {k: len(g.members) for k, g in groups.items()}
        return wrapper

    return decorate(handler) if handler is not None else decorate

