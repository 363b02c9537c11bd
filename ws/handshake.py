"""The WebSocket opening handshake (RFC 6455 section 4), as pure functions.

The server calls :func:`check_request` (and optionally :func:`check_origin` and
:func:`select_subprotocol`) on a parsed request and answers 101 with
:func:`response_headers`; the client builds its request with :func:`make_key`
and :func:`request_headers` and validates the answer with :func:`check_response`.
What the two ends agreed on (subprotocol, extensions and the permessage-deflate
codec) comes out of :func:`server_negotiation` and :func:`client_negotiation` as
one :class:`Negotiated`, which ``ws.upgrade`` turns into the connection.
The server-side checks take a :class:`~ws.http11.RequestHead` or a
:class:`~ws.http.Request` (they read ``method``, ``version`` and ``headers``).
Failures raise :class:`~ws.exceptions.InvalidHandshake` (or
:class:`~ws.exceptions.HTTPError` for a method other than GET) carrying the
status to answer with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Collection, Iterable, Sequence

import attrs

from .deflate import DeflateCodec, DeflateConfig, client_accept, server_negotiate
from .exceptions import HTTPError, InvalidHandshake
from .http import Request
from .http11 import Headers, RequestHead, StatusHead

__all__ = [
    "GUID",
    "accept_key",
    "check_request",
    "check_origin",
    "select_subprotocol",
    "response_headers",
    "make_key",
    "request_headers",
    "check_response",
    "Negotiated",
    "server_negotiation",
    "client_negotiation",
    "parse_header_tokens",
    "parse_extension_header",
]

# RFC 6455 1.3: the globally unique identifier appended to the key
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_VERSION = "13"

# RFC 7230 3.2.6: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 7230 3.2.6: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
_QUOTED = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"')
_QUOTED_PAIR = re.compile(r"\\(.)")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_header_tokens(values: Iterable[str]) -> list[str]:
    """Split comma-separated header values into their elements, in order.

    RFC 7230 7: empty list elements are ignored and optional whitespace around
    commas is dropped.  Case is kept; compare case-insensitively where the header
    is (``Connection``, ``Upgrade``) and exactly where it is not (subprotocols).
    """
    tokens = []
    for value in values:
        for item in value.split(","):
            item = item.strip(" \t")
            if item:
                tokens.append(item)
    return tokens


def _has_token(headers: Headers, name: str, token: str) -> bool:
    return any(item.lower() == token for item in parse_header_tokens(headers.get_all(name)))


def _unique(headers: Headers, name: str) -> str:
    values = headers.get_all(name)
    if not values:
        raise InvalidHandshake(400, f"missing {name} header")
    if len(values) > 1:
        raise InvalidHandshake(400, f"more than one {name} header")
    return values[0]


def check_request(head: RequestHead | Request) -> str:
    """Validate a client's opening handshake and return its ``Sec-WebSocket-Key``.

    Raises :class:`HTTPError` 405 (with ``Allow: GET``) for another method,
    :class:`InvalidHandshake` 426 (with ``Sec-WebSocket-Version: 13``) for another
    protocol version, and :class:`InvalidHandshake` 400 for anything else amiss.
    """
    # RFC 6455 4.2.1: the request MUST be an HTTP/1.1 or higher GET
    if head.method != "GET":
        raise HTTPError(405, "WebSocket handshakes use GET", headers=[("Allow", "GET")])
    if head.version != "1.1":
        raise InvalidHandshake(400, "WebSocket handshakes need HTTP/1.1")
    headers = head.headers
    # RFC 6455 4.2.1 item 2 and RFC 7230 5.4: exactly one Host header (400 otherwise)
    _unique(headers, "Host")
    # RFC 6455 4.2.1 items 3 and 4: Upgrade contains "websocket", Connection "Upgrade"
    if not _has_token(headers, "Upgrade", "websocket"):
        raise InvalidHandshake(400, "missing or invalid Upgrade header")
    if not _has_token(headers, "Connection", "upgrade"):
        raise InvalidHandshake(400, "missing or invalid Connection header")
    # RFC 6455 4.2.2 / 4.4: answer an unsupported version with 426 and the versions we speak;
    # RFC 7231 6.5.15 also requires an Upgrade header on a 426.
    if headers.get_all("Sec-WebSocket-Version") != [_VERSION]:
        raise InvalidHandshake(
            426,
            "unsupported WebSocket version",
            headers=[("Upgrade", "websocket"), ("Sec-WebSocket-Version", _VERSION)],
        )
    # RFC 6455 4.2.1 item 5: a base64-encoded 16-byte nonce
    key = _unique(headers, "Sec-WebSocket-Key")
    try:
        nonce = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidHandshake(400, "invalid Sec-WebSocket-Key") from None
    if len(nonce) != 16:
        raise InvalidHandshake(400, "invalid Sec-WebSocket-Key")
    return key


def check_origin(head: RequestHead | Request, allowed: Collection[str | None] | None) -> None:
    """Enforce an Origin policy (RFC 6455 10.2); ``None`` allows every origin.

    Otherwise the ``Origin`` header must be one of *allowed*; a request without
    one (a non-browser client) passes only if *allowed* contains ``None``.
    Raises :class:`InvalidHandshake` 403.
    """
    if allowed is None:
        return
    values = head.headers.get_all("Origin")
    if len(values) > 1:
        raise InvalidHandshake(400, "more than one Origin header")
    origin = values[0] if values else None
    if origin not in allowed:
        raise InvalidHandshake(403, "origin not allowed")


def select_subprotocol(head: RequestHead | Request, supported: Sequence[str]) -> str | None:
    """The first of *supported* that the client offered, or ``None`` (RFC 6455 4.2.2)."""
    offered = set(parse_header_tokens(head.headers.get_all("Sec-WebSocket-Protocol")))
    for subprotocol in supported:
        if subprotocol in offered:
            return subprotocol
    return None


def response_headers(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
) -> list[tuple[str, str]]:
    """The header fields of the server's 101 Switching Protocols (RFC 6455 4.2.2 item 5)."""
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    return headers


def make_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (RFC 6455 4.1 item 7)."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def request_headers(
    host: str,
    key: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The header fields of a client's opening handshake (RFC 6455 4.1)."""
    headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", _VERSION),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    headers.extend(extra)
    return headers


def check_response(
    head: StatusHead,
    key: str,
    *,
    subprotocols: Collection[str] | None = None,
) -> tuple[str | None, str | None]:
    """Validate the server's answer; return ``(subprotocol, extensions header value)``.

    RFC 6455 4.1: the client MUST fail the connection unless the status is 101,
    ``Upgrade``/``Connection`` name websocket/upgrade and ``Sec-WebSocket-Accept``
    matches *key*.  When *subprotocols* (what the client offered) is given, a
    subprotocol the client did not offer also fails.  Raises
    :class:`InvalidHandshake` whose status is the response's when that was not
    101, and 0 otherwise.  The extensions value is returned raw for the
    extension negotiation to parse.
    """
    if head.status != 101:
        raise InvalidHandshake(head.status, f"server answered {head.status} {head.reason}".strip())
    headers = head.headers
    if not _has_token(headers, "Upgrade", "websocket"):
        raise InvalidHandshake(0, "missing or invalid Upgrade header")
    if not _has_token(headers, "Connection", "upgrade"):
        raise InvalidHandshake(0, "missing or invalid Connection header")
    accepts = headers.get_all("Sec-WebSocket-Accept")
    if len(accepts) != 1:
        raise InvalidHandshake(0, "missing or repeated Sec-WebSocket-Accept header")
    if accepts[0] != accept_key(key):
        raise InvalidHandshake(0, "wrong Sec-WebSocket-Accept")
    subprotocol = None
    chosen = parse_header_tokens(headers.get_all("Sec-WebSocket-Protocol"))
    if chosen:
        # RFC 6455 4.1 item 6: the server picks one value, and one the client offered
        if len(chosen) > 1:
            raise InvalidHandshake(0, "more than one subprotocol selected")
        subprotocol = chosen[0]
        if subprotocols is not None and subprotocol not in subprotocols:
            raise InvalidHandshake(0, f"server selected unoffered subprotocol {subprotocol!r}")
    extensions = headers.get_all("Sec-WebSocket-Extensions")
    return subprotocol, (", ".join(extensions) if extensions else None)


@attrs.frozen
class Negotiated:
    """What an opening handshake settled, for the connection it opens.

    ``subprotocol`` is the one selected (``None``: none), ``extensions`` the
    ``Sec-WebSocket-Extensions`` value of the 101 (``None``: none) and ``deflate``
    the permessage-deflate codec when that extension was agreed on.
    """

    subprotocol: str | None = None
    extensions: str | None = None
    deflate: DeflateCodec | None = None


def server_negotiation(
    head: RequestHead | Request,
    *,
    subprotocols: Sequence[str] = (),
    compression: DeflateConfig | None = None,
) -> Negotiated:
    """What a server accepts of a valid request's offers (RFC 6455 4.2.2, RFC 7692 5).

    The first of *subprotocols* the client offered, and permessage-deflate on
    the terms of *compression* (``None``: declined).  A malformed
    ``Sec-WebSocket-Extensions`` header raises :class:`InvalidHandshake` 400.
    """
    subprotocol = select_subprotocol(head, subprotocols) if subprotocols else None
    offers = head.headers.get_all("Sec-WebSocket-Extensions")
    if compression is None or not offers:
        return Negotiated(subprotocol)
    params = server_negotiate(parse_extension_header(offers), compression)
    if params is None:
        return Negotiated(subprotocol)
    return Negotiated(subprotocol, params.to_header(), compression.codec(params, is_server=True))


def client_negotiation(
    head: StatusHead,
    key: str,
    *,
    subprotocols: Collection[str] | None = None,
    compression: DeflateConfig | None = None,
) -> Negotiated:
    """Validate the server's answer (:func:`check_response`) and read what it accepted.

    *compression* is what the client offered (``None``: nothing); an extension
    the server accepts without an offer, or an invalid permessage-deflate
    answer, raises :class:`InvalidHandshake` (status 0).
    """
    subprotocol, extensions = check_response(head, key, subprotocols=subprotocols)
    if extensions is None:
        return Negotiated(subprotocol)
    if compression is None:
        raise InvalidHandshake(0, "server accepted an extension we did not offer")
    params = client_accept(parse_extension_header([extensions]), compression)
    deflate = compression.codec(params, is_server=False) if params is not None else None
    return Negotiated(subprotocol, extensions, deflate)


def _skip_ows(value: str, pos: int) -> int:
    """The index of the first character at or after *pos* that is not SP or HTAB."""
    end = len(value)
    while pos < end and value[pos] in " \t":
        pos += 1
    return pos


def _parse_param_value(value: str, pos: int) -> tuple[str, int]:
    match = _TOKEN.match(value, pos)
    if match is not None:
        return match.group(), match.end()
    match = _QUOTED.match(value, pos)
    if match is None:
        raise InvalidHandshake(400, "invalid extension parameter value")
    # RFC 6455 9.1: a quoted value, once unescaped, MUST conform to the token ABNF
    unquoted = _QUOTED_PAIR.sub(r"\1", match.group(1))
    if _TOKEN.fullmatch(unquoted) is None:
        raise InvalidHandshake(400, "quoted extension parameter value is not a token")
    return unquoted, match.end()


def _parse_extension_value(
    value: str, result: list[tuple[str, list[tuple[str, str | None]]]]
) -> None:
    # RFC 6455 9.1:
    #   extension-list = 1#extension
    #   extension = extension-token *( ";" extension-param )
    #   extension-param = token [ "=" (token | quoted-string) ]
    end = len(value)
    pos = _skip_ows(value, 0)
    while pos < end:
        if value[pos] == ",":  # RFC 7230 7: ignore empty list elements
            pos = _skip_ows(value, pos + 1)
            continue
        match = _TOKEN.match(value, pos)
        if match is None:
            raise InvalidHandshake(400, "invalid extension name")
        name = match.group()
        pos = _skip_ows(value, match.end())
        params: list[tuple[str, str | None]] = []
        while pos < end and value[pos] == ";":
            pos = _skip_ows(value, pos + 1)
            match = _TOKEN.match(value, pos)
            if match is None:
                raise InvalidHandshake(400, "invalid extension parameter name")
            param = match.group()
            pos = _skip_ows(value, match.end())
            param_value = None
            if pos < end and value[pos] == "=":
                pos = _skip_ows(value, pos + 1)
                param_value, pos = _parse_param_value(value, pos)
                pos = _skip_ows(value, pos)
            params.append((param, param_value))
        result.append((name, params))
        if pos < end:
            if value[pos] != ",":
                raise InvalidHandshake(400, "invalid Sec-WebSocket-Extensions header")
            pos = _skip_ows(value, pos + 1)


def parse_extension_header(
    values: Iterable[str],
) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse ``Sec-WebSocket-Extensions`` values into ``(name, [(param, value | None)])``.

    Order is kept across values and within each (the order of offers matters in
    RFC 7692 negotiation).  Quoted parameter values are unescaped.  Malformed
    input raises :class:`InvalidHandshake` 400.
    """
    result: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in values:
        _parse_extension_value(value, result)
    return result
