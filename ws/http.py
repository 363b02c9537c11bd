"""The request and response objects that handlers see, and a static file handler.

:class:`Request` is built from a parsed :class:`~ws.http11.RequestHead` (our
server) or from an ASGI connection scope (:func:`ws.asgi`);
:class:`Response` serialises itself with :func:`~ws.http11.serialize_response`.
Neither does I/O: the server shell reads and writes the bytes.
"""

from __future__ import annotations

import http
import json as _json
import mimetypes
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from .http11 import Headers, RequestHead, _keep_alive, serialize_response

__all__ = ["Request", "Response", "static", "to_response"]


def _parse_cookies(values: list[str]) -> dict[str, str]:
    """Parse ``Cookie`` headers leniently (RFC 6265 5.4); the first of a repeated name wins.

    Pairs without ``=`` or with an empty name are skipped rather than refused,
    as browsers send whatever was set; double quotes around a value are removed.
    """
    cookies: dict[str, str] = {}
    for value in values:
        for pair in value.split(";"):
            name, eq, cookie = pair.partition("=")
            name = name.strip()
            if not eq or not name:
                continue
            cookie = cookie.strip()
            if len(cookie) >= 2 and cookie[0] == cookie[-1] == '"':
                cookie = cookie[1:-1]
            cookies.setdefault(name, cookie)
    return cookies


def _split_target(target: str) -> tuple[str, str]:
    """The raw path and query of a request target (RFC 7230 5.3)."""
    if target.startswith(("http://", "https://")):
        # RFC 7230 5.3.2: absolute-form, which servers MUST accept
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


def _parse_query(raw_query: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The first value of each name, and every value of each name."""
    query: dict[str, str] = {}
    query_all: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(name, value)
        query_all.setdefault(name, []).append(value)
    return query, query_all


def _route_path(path: str, root_path: str) -> str:
    """*path* below the mount point *root_path* (ASGI servers and hosts differ on
    whether ``path`` includes ``root_path``; both forms are accepted)."""
    root_path = root_path.rstrip("/")
    if not root_path:
        return path or "/"
    if path == root_path:
        return "/"
    if path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path or "/"


@attrs.define(slots=True)
class Request:
    """An HTTP request as a handler sees it.

    ``path`` is percent-decoded and has no query; ``target`` is the raw request
    target.  ``query`` keeps the first value of each name, ``query_all`` every
    value.  ``params`` holds the route parameters, filled in by the router, and
    ``peer`` the remote address when the server knows it.  ``connection`` is the
    server's connection that received it (what ``ws.accept`` upgrades).

    Under :func:`ws.asgi`, ``scope`` is the ASGI connection scope as the ASGI
    server (and the host application's middleware) made it: ``scope["user"]``
    and ``scope["session"]`` from Starlette's authentication and session
    middleware, ``scope["root_path"]`` where the app is mounted, ``scope["state"]``
    from the lifespan.  ``path`` is then the path below ``root_path`` (what the
    routes match), and ``target`` the raw path and query as the client sent them.
    ``scope`` is ``None`` for a request received by :func:`ws.serve`.
    """

    method: str
    path: str
    target: str
    query: dict[str, str] = attrs.field(factory=dict)
    query_all: dict[str, list[str]] = attrs.field(factory=dict)
    headers: Headers = attrs.field(factory=Headers)
    body: bytes = b""
    peer: tuple[Any, ...] | None = None
    params: dict[str, Any] = attrs.field(factory=dict)
    version: str = "1.1"
    _conn: object = attrs.field(default=None, alias="_conn", repr=False, eq=False)
    scope: dict[str, Any] | None = attrs.field(default=None, repr=False, eq=False)
    _cookies: dict[str, str] | None = attrs.field(default=None, init=False, repr=False, eq=False)

    @classmethod
    def from_head(
        cls, head: RequestHead, peer: tuple[Any, ...] | None = None, connection: object = None
    ) -> Request:
        """Build a request from a parsed head, decoding the path and the query string.

        *connection* is the server connection it arrived on (see :attr:`connection`).
        """
        raw_path, raw_query = _split_target(head.target)
        query, query_all = _parse_query(raw_query)
        return cls(
            method=head.method,
            path=unquote(raw_path),
            target=head.target,
            query=query,
            query_all=query_all,
            headers=head.headers,
            body=head.body,
            peer=peer,
            version=head.version,
            _conn=connection,
        )

    @classmethod
    def from_scope(cls, scope: dict[str, Any], body: bytes = b"", conn: object = None) -> Request:
        """Build a request from an ASGI ``http`` or ``websocket`` scope.

        Header names and values are decoded as Latin-1 (as the ASGI spec has them
        encoded); *conn* is what ``server`` and ``ws.accept`` reach the connection by.
        """
        raw_query = bytes(scope.get("query_string") or b"").decode("latin-1")
        query, query_all = _parse_query(raw_query)
        raw_path = scope.get("raw_path")
        path = scope.get("path") or "/"
        target = raw_path.decode("latin-1") if raw_path else path
        if raw_query:
            target += "?" + raw_query
        client = scope.get("client")
        return cls(
            method=scope.get("method", "GET"),
            path=_route_path(path, scope.get("root_path") or ""),
            target=target,
            query=query,
            query_all=query_all,
            headers=Headers((bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope.get("headers", ())),
            body=body,
            peer=tuple(client) if client else None,
            version=scope.get("http_version", "1.1"),
            _conn=conn,
            scope=scope,
        )

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies sent in ``Cookie`` headers, parsed once on first access."""
        if self._cookies is None:
            self._cookies = _parse_cookies(self.headers.get_all("Cookie"))
        return self._cookies

    @property
    def connection(self) -> Any:
        """The server's HTTP connection that received this request, which can upgrade
        it to WebSocket (``None`` for a request not received by ``ws.serve``)."""
        return self._conn

    @property
    def server(self) -> Any:
        """The :class:`ws.Server` that received this request (``None`` outside one);
        under :func:`ws.asgi`, the application's :class:`ws.ASGIServer`."""
        conn = self._conn
        return getattr(conn, "server", None)

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request (RFC 7230 6.3)."""
        return _keep_alive(self.version, self.headers)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


_TEXT = "text/plain; charset=utf-8"


@attrs.define(slots=True)
class Response:
    """An HTTP response to serialise: status, header fields and a complete body."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = attrs.field(factory=list)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        """A ``text/plain`` UTF-8 response."""
        return cls(status, text.encode(), [("Content-Type", _TEXT)])

    @classmethod
    def html(cls, html: str, status: int = 200) -> Response:
        """A ``text/html`` UTF-8 response."""
        return cls(status, html.encode(), [("Content-Type", "text/html; charset=utf-8")])

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        """An ``application/json`` response with *obj* encoded compactly in UTF-8."""
        body = _json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, [("Content-Type", "application/json")])

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Response:
        """A redirect to *location* (RFC 7231 7.1.2) with an empty body."""
        return cls(status, b"", [("Location", location)])

    @classmethod
    def error(cls, status: int, message: str | None = None) -> Response:
        """A plain-text error page: the status and its phrase, then *message* if given."""
        text = f"{status} {_phrase(status)}".rstrip()
        if message:
            text = f"{text}: {message}"
        return cls.text(text + "\n", status)

    @classmethod
    def file(cls, path: str | os.PathLike[str], *, content_type: str | None = None) -> Response:
        """The contents of the file at *path*, typed by its extension unless *content_type* is given.

        Reads the whole file synchronously, which suits the small pages and
        assets of the examples; raises :class:`OSError` if it cannot be read.
        """
        with open(path, "rb") as f:
            body = f.read()
        if content_type is None:
            guessed, _ = mimetypes.guess_type(os.fspath(path))
            content_type = guessed or "application/octet-stream"
            if content_type.startswith("text/"):
                content_type += "; charset=utf-8"
        return cls(200, body, [("Content-Type", content_type)])

    def serialize(self, *, keep_alive: bool, head_only: bool = False) -> bytes:
        """The response as bytes for the wire.

        Adds ``Connection: close`` when the connection will not be kept alive and
        ``Content-Length`` when missing.  With *head_only* (answering HEAD, RFC
        7231 4.3.2) the body is left out but ``Content-Length`` still gives its size.
        """
        headers = self.headers
        if not keep_alive and not any(
            name.lower() == "connection" and "close" in value.lower() for name, value in headers
        ):
            headers = [*headers, ("Connection", "close")]
        if not head_only:
            return serialize_response(self.status, headers, self.body)
        status = self.status
        if status >= 200 and status not in (204, 304):
            if not any(name.lower() == "content-length" for name, _ in headers):
                headers = [*headers, ("Content-Length", str(len(self.body)))]
        return serialize_response(status, headers)


def to_response(result: Any) -> Response:
    """What a handler returned, as a :class:`Response`: a ``Response`` as it is,
    ``None`` as 204, a ``str`` as text, bytes as ``application/octet-stream``,
    anything else as JSON."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status=204)
    if isinstance(result, str):
        return Response.text(result)
    if isinstance(result, (bytes, bytearray)):
        return Response(body=bytes(result), headers=[("Content-Type", "application/octet-stream")])
    return Response.json(result)


def static(directory: str | os.PathLike[str]) -> Callable[..., Awaitable[Response]]:
    """A handler serving the files under *directory*, for a route like ``/static/{path:path}``.

    Answers 404 for missing files and for anything that could leave the
    directory: ``..`` segments, absolute paths, NUL bytes, backslashes and
    symlinks that resolve outside it.  A directory is served by its ``index.html``.
    Files are read synchronously (see :meth:`Response.file`).
    """
    root = os.path.realpath(directory)

    def inside(path: str) -> str | None:
        # Resolve symlinks first, then check the result is still under root.
        real = os.path.realpath(path)
        return real if os.path.commonpath([root, real]) == root else None

    async def handler(request: Request, path: str = "") -> Response:
        if "\x00" in path or "\\" in path or path.startswith("/"):
            return Response.error(404)
        segments = [segment for segment in path.split("/") if segment]
        if ".." in segments:
            return Response.error(404)
        candidate = inside(os.path.join(root, *segments))
        if candidate is not None and os.path.isdir(candidate):
            candidate = inside(os.path.join(candidate, "index.html"))
        if candidate is None or not os.path.isfile(candidate):
            return Response.error(404)
        try:
            return Response.file(candidate)
        except OSError:
            return Response.error(404)

    return handler
