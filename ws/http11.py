"""HTTP/1.1 parsing and serialising, sans I/O (RFC 7230).

The server feeds received bytes to a :class:`RequestParser` and gets complete
:class:`RequestHead` objects back; the client feeds bytes to a
:class:`ResponseParser` and gets one :class:`StatusHead`.  Nothing here reads or
writes a socket, so the parsers can be tested byte by byte.

Choices made where the RFC leaves room:

* Lines must end with CRLF.  RFC 7230 3.5 allows a recipient to accept a bare LF,
  but two parsers that disagree on line ends are how request smuggling starts, and
  every real client sends CRLF, so a bare LF is refused with 400.
* Request bodies are framed by ``Content-Length`` only.  A request carrying
  ``Transfer-Encoding`` (chunked or otherwise) is refused with 501, as
  RFC 7230 3.3.1 suggests for a transfer coding the server does not implement;
  nothing this server offers needs a streamed request body.
* Obsolete line folding is refused with 400 (RFC 7230 3.2.4).
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable, Iterator

import attrs

from .exceptions import HTTPError

__all__ = [
    "Headers",
    "RequestHead",
    "StatusHead",
    "RequestParser",
    "ResponseParser",
    "serialize_response",
    "serialize_request",
]

# The head is decoded once as Latin-1 (RFC 7230 3.2.4: field values may carry obs-text),
# so these patterns work on str; the ASCII-only classes refuse anything above 0x7F.
# RFC 7230 3.2.6: token = 1*tchar
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 7230 5.3: request-target is visible ASCII (no spaces, no controls, no obs-text)
_TARGET_RE = re.compile(r"[\x21-\x7e]+")
# RFC 7230 3.2: field-value is VCHAR, SP, HTAB and obs-text
_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# RFC 7230 3.2: header-field = field-name ":" OWS field-value OWS (trailing OWS stripped after)
_HEADER_RE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e\x80-\xff]*)")
# RFC 7230 2.6: HTTP-version = HTTP-name "/" DIGIT "." DIGIT
_VERSION_RE = re.compile(r"HTTP/[0-9]\.[0-9]")
# RFC 7230 3.1.2: reason-phrase = *( HTAB / SP / VCHAR / obs-text )
_REASON_RE = _VALUE_RE
_DIGITS_RE = re.compile(r"[0-9]+")

_SUPPORTED_VERSIONS = {"HTTP/1.1": "1.1", "HTTP/1.0": "1.0"}
_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_CONTENT_LENGTH_DIGITS = 18  # int() of longer strings is slow and no body is that big


class Headers:
    """A case-insensitive multi-dict of HTTP header fields.

    Keeps the fields in their original order and case (``raw``), and an index from
    lowercase name to values so lookups cost one dict access.  Iterating yields
    ``(name, value)`` pairs, because a header name may repeat.  Treat ``raw`` as
    read-only and use :meth:`add` to append, so the index stays in step.
    """

    __slots__ = ("raw", "_index")

    def __init__(self, list_of_pairs: Iterable[tuple[str, str]] | None = None) -> None:
        self.raw: list[tuple[str, str]] = []
        # Built on the first lookup; compact() drops it (a WebSocket keeps its request's
        # headers for its whole life, and the index is most of their size).
        self._index: dict[str, list[str]] | None = None
        if list_of_pairs is not None:
            for name, value in list_of_pairs:
                self.add(name, value)

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            names = _names
            for name, value in self.raw:
                shared = names.get(name)
                _index_add(index, shared[1] if shared is not None else name.lower(), value)
        return index

    def compact(self) -> None:
        """Free the lookup index; the next lookup builds it again."""
        self._index = None

    def add(self, name: str, value: str) -> None:
        """Append a field; earlier fields with the same name are kept."""
        self.raw.append((name, value))
        index = self._index
        if index is not None:
            key = name.lower()
            values = index.get(key)
            if values is None:
                index[key] = [value]
            else:
                values.append(value)

    def __getitem__(self, name: str) -> str:
        """The first value of *name*; raises :class:`KeyError` when absent."""
        return self._lookup()[name.lower()][0]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of *name*, or *default* when absent."""
        values = self._lookup().get(name.lower())
        return default if values is None else values[0]

    def get_all(self, name: str) -> list[str]:
        """Every value of *name* in order (an empty list when absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.raw)

    def items(self) -> Iterator[tuple[str, str]]:
        """The ``(name, value)`` pairs in order, names in their original case."""
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __eq__(self, other: object) -> bool:
        """Equal when the same fields appear in the same order, names compared case-insensitively."""
        if isinstance(other, Headers):
            other_raw = other.raw
        elif isinstance(other, list):
            other_raw = other
        else:
            return NotImplemented
        if len(self.raw) != len(other_raw):
            return False
        return all(
            a_name.lower() == b_name.lower() and a_value == b_value
            for (a_name, a_value), (b_name, b_value) in zip(self.raw, other_raw, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


def _keep_alive(version: str, headers: Headers) -> bool:
    """Whether a request leaves the connection open (RFC 7230 6.3).

    HTTP/1.1 persists unless ``Connection: close``; HTTP/1.0 persists only with
    ``Connection: keep-alive``.
    """
    tokens = set()
    for value in headers.get_all("Connection"):
        for token in value.split(","):
            tokens.add(token.strip(" \t").lower())
    if "close" in tokens:
        return False
    return version == "1.1" or "keep-alive" in tokens


@attrs.frozen(slots=True)
class RequestHead:
    """A complete HTTP request: request line, header fields and body."""

    method: str
    target: str
    version: str  # "1.0" or "1.1"
    headers: Headers
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this one (RFC 7230 6.3)."""
        return _keep_alive(self.version, self.headers)


@attrs.frozen(slots=True)
class StatusHead:
    """An HTTP response head as the client sees it: status line and header fields."""

    status: int
    reason: str
    headers: Headers


def _header_error(line: str) -> HTTPError:
    """Explain why *line* is not a valid header field (the slow path, for errors only)."""
    if line[:1] in (" ", "\t"):
        # RFC 7230 3.2.4: a server MUST reject obs-fold in a request with 400
        return HTTPError(400, "obsolete line folding in headers")
    name, colon, _ = line.partition(":")
    if not colon:
        return HTTPError(400, "header line without a colon")
    if name[-1:] in (" ", "\t"):
        # RFC 7230 3.2.4: no whitespace is allowed between field-name and colon; reject with 400
        return HTTPError(400, "whitespace before the colon in a header")
    if _TOKEN_RE.fullmatch(name) is None:
        return HTTPError(400, "invalid header name")
    return HTTPError(400, "invalid character in header value")


# A request's headers live as long as its WebSocket (``sock.request``), so the strings
# that repeat from one request to the next are shared: header names with their
# lowercase keys, and the values of the fields below (``websocket``, ``Upgrade``, the
# Host...).  Both caches are bounded, so odd names or values cost nothing extra.
_SHARED_VALUES = frozenset({
    "host", "upgrade", "connection", "sec-websocket-version", "sec-websocket-extensions",
    "sec-websocket-protocol", "origin", "user-agent", "accept-encoding", "accept-language",
    "pragma", "cache-control", "accept",
})
_CACHE_LIMIT = 512
_names: dict[str, tuple[str, str]] = {}
_values: dict[str, str] = {}


def _parse_headers(lines: list[str]) -> Headers:
    headers = Headers()
    raw = headers.raw
    index: dict[str, list[str]] = {}
    headers._index = index  # the handshake looks fields up at once: build it now
    match = _HEADER_RE.fullmatch
    names, values_cache = _names, _values
    for line in lines:
        m = match(line)
        if m is None:
            raise _header_error(line)
        name, value = m.groups()
        value = value.rstrip(" \t")
        shared = names.get(name)
        if shared is None:
            shared = (name, name.lower())
            if len(names) < _CACHE_LIMIT:
                names[name] = shared
        name, key = shared
        if key in _SHARED_VALUES and len(value) <= 64:
            value = values_cache.get(value) or (values_cache.setdefault(value, value) if len(values_cache) < _CACHE_LIMIT else value)
        raw.append((name, value))
        _index_add(index, key, value)
    return headers


def _index_add(index: dict[str, list[str]], key: str, value: str) -> None:
    """Add *value* under the lower-case *key* (a list made only for the first one)."""
    values = index.get(key)
    if values is None:
        index[key] = [value]
    else:
        values.append(value)


class _HeadReader:
    """Finds complete message heads in a buffer and enforces the size limits.

    A complete head (up to the first CRLF CRLF) is decoded and split in one go.
    While a head is incomplete, the lines received so far are checked as they
    arrive, resuming where the last check stopped (so feeding a byte at a time
    stays linear), and a limit that is exceeded raises at once instead of
    waiting for the end of the head.
    """

    __slots__ = (
        "buffer",
        "_checked",
        "_count",
        "_max_line",
        "_max_headers",
        "_max_header_size",
        "_line_status",
    )

    def __init__(
        self,
        max_line: int | None,
        max_headers: int | None,
        max_header_size: int | None,
        line_status: int,
    ) -> None:
        self.buffer = bytearray()
        self._checked = 0  # bytes of complete lines already checked
        self._count = 0  # complete lines already checked
        self._max_line = max_line
        self._max_headers = max_headers
        self._max_header_size = max_header_size
        self._line_status = line_status

    def reset(self) -> None:
        """Forget the progress on the head in the buffer."""
        self._checked = 0
        self._count = 0

    def _check_line(self, number: int, length: int) -> None:
        """Check the length of line *number* (0: the start line) and the header count."""
        if number == 0:
            if self._max_line is not None and length > self._max_line:
                raise HTTPError(self._line_status, "start line too long")
            return
        if self._max_header_size is not None and length > self._max_header_size:
            raise HTTPError(431, "header line too long")
        if self._max_headers is not None and number > self._max_headers:
            raise HTTPError(431, "too many headers")

    def _check_incomplete(self) -> None:
        buffer = self.buffer
        while True:
            end = buffer.find(b"\n", self._checked)
            if end < 0:
                partial = len(buffer) - self._checked
                # The partial line may already hold the "\r" of its terminator; an
                # empty one (or a lone "\r") may be the blank line that ends the head,
                # so it is no header yet.
                if partial > 1 or (partial == 1 and buffer[-1] != 0x0D):
                    self._check_line(self._count, partial - 1)
                return
            if end == self._checked or buffer[end - 1] != 0x0D:
                raise HTTPError(400, "line not terminated by CRLF")
            self._check_line(self._count, end - 1 - self._checked)
            self._checked = end + 1
            self._count += 1

    def read_head(self) -> list[str] | None:
        """Return the lines of a complete head, decoded as Latin-1, or ``None``.

        On success the head and its blank line are removed from the buffer.
        """
        buffer = self.buffer
        # RFC 7230 3.5: a server SHOULD ignore at least one empty line before the request-line
        while buffer[:2] == b"\r\n":
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n", max(self._checked - 2, 0))
        if end < 0:
            self._check_incomplete()
            return None
        head = buffer[:end].decode("latin-1")
        del buffer[: end + 4]
        self.reset()
        lines = head.split("\r\n")
        # A bare CR or LF would leave a line with "\r" or "\n" in it.
        if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
            raise HTTPError(400, "line not terminated by CRLF")
        self._check_line(0, len(lines[0]))
        if len(lines) > 1:
            self._check_line(len(lines) - 1, max(map(len, lines[1:])))
        return lines


def _content_length(headers: Headers, max_body: int | None) -> int:
    """The body length announced by ``Content-Length``, 0 when absent (RFC 7230 3.3.3)."""
    values = headers.get_all("Content-Length")
    if not values:
        return 0
    # RFC 7230 3.3.2: repeated identical values may be merged; differing ones are an error
    items = {item.strip() for value in values for item in value.split(",")}
    if len(items) != 1:
        raise HTTPError(400, "conflicting Content-Length values")
    (text,) = items
    if _DIGITS_RE.fullmatch(text) is None:
        raise HTTPError(400, "invalid Content-Length")
    if len(text.lstrip("0")) > _MAX_CONTENT_LENGTH_DIGITS:
        if max_body is not None:
            raise HTTPError(413, "request body too large")
        raise HTTPError(400, "Content-Length too large")
    length = int(text)
    if max_body is not None and length > max_body:
        raise HTTPError(413, "request body too large")
    return length


def _parse_request_line(line: str) -> tuple[str, str, str]:
    # RFC 7230 3.1.1: request-line = method SP request-target SP HTTP-version
    parts = line.split(" ")
    if len(parts) != 3:
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if _TOKEN_RE.fullmatch(method) is None:
        raise HTTPError(400, "invalid method")
    if _TARGET_RE.fullmatch(target) is None:
        raise HTTPError(400, "invalid request target")
    return method, target, _parse_version(version)


def _parse_version(version: str) -> str:
    supported = _SUPPORTED_VERSIONS.get(version)
    if supported is not None:
        return supported
    if _VERSION_RE.fullmatch(version) is not None:
        raise HTTPError(505, "HTTP version not supported")
    raise HTTPError(400, "malformed HTTP version")


class RequestParser:
    """Incremental parser for the requests a server receives.

    :meth:`feed` bytes as they arrive, then call :meth:`next_request` until it
    returns ``None``; pipelined requests come out in order.  When a request is
    upgraded to WebSocket, :meth:`take_buffer` hands over whatever followed it.

    Limits are keyword-only and ``None`` disables one: ``max_line`` bounds the
    request line (414), ``max_headers`` the number of header fields (431),
    ``max_header_size`` each header line (431) and ``max_body`` the
    ``Content-Length`` (413).  Malformed input raises :class:`HTTPError` with
    status 400, an unsupported HTTP version 505, and ``Transfer-Encoding`` 501.
    After an :class:`HTTPError` the parser is unusable: answer and close.
    """

    __slots__ = ("_reader", "_max_body", "_pending", "_body_length")

    def __init__(
        self,
        *,
        max_line: int | None = 8192,
        max_headers: int | None = 128,
        max_header_size: int | None = 8192,
        max_body: int | None = 1_048_576,
    ) -> None:
        self._reader = _HeadReader(max_line, max_headers, max_header_size, 414)
        self._max_body = max_body
        self._pending: RequestHead | None = None
        self._body_length = 0

    def feed(self, data: bytes) -> None:
        """Add received bytes to the buffer; parsing happens in :meth:`next_request`."""
        self._reader.buffer += data

    def next_request(self) -> RequestHead | None:
        """The next complete request (head and body), or ``None`` if more bytes are needed."""
        if self._pending is None:
            lines = self._reader.read_head()
            if lines is None:
                return None
            method, target, version = _parse_request_line(lines[0])
            headers = _parse_headers(lines[1:])
            if "Transfer-Encoding" in headers:
                raise HTTPError(501, "Transfer-Encoding in requests is not supported")
            length = _content_length(headers, self._max_body)
            head = RequestHead(method, target, version, headers)
            if length == 0:
                return head
            self._pending = head
            self._body_length = length
        buffer = self._reader.buffer
        length = self._body_length
        if len(buffer) < length:
            return None
        body = bytes(buffer[:length])
        del buffer[:length]
        head = attrs.evolve(self._pending, body=body)
        self._pending = None
        self._body_length = 0
        return head

    def take_buffer(self) -> bytes:
        """Return and remove every byte after the last request returned.

        Any request in progress is dropped: after an upgrade these bytes belong
        to the WebSocket protocol, not to HTTP.
        """
        data = bytes(self._reader.buffer)
        self._reader.buffer.clear()
        self._reader.reset()
        self._pending = None
        self._body_length = 0
        return data


class ResponseParser:
    """Incremental parser for the one response head a WebSocket client awaits.

    :meth:`next_response` returns the :class:`StatusHead` once it is complete and
    ``None`` before and after; bytes after the head (frames sent right after a
    101) are never interpreted and come out of :meth:`take_buffer`.  Limits are
    as for :class:`RequestParser`, except an overlong status line is refused
    with 400 (there is no URI to blame).
    """

    __slots__ = ("_reader", "_done")

    def __init__(
        self,
        *,
        max_line: int | None = 8192,
        max_headers: int | None = 128,
        max_header_size: int | None = 8192,
    ) -> None:
        self._reader = _HeadReader(max_line, max_headers, max_header_size, 400)
        self._done = False

    def feed(self, data: bytes) -> None:
        """Add received bytes to the buffer."""
        self._reader.buffer += data

    def next_response(self) -> StatusHead | None:
        """The response head once complete; ``None`` while incomplete and once returned."""
        if self._done:
            return None
        lines = self._reader.read_head()
        if lines is None:
            return None
        status, reason = _parse_status_line(lines[0])
        headers = _parse_headers(lines[1:])
        self._done = True
        return StatusHead(status, reason, headers)

    def take_buffer(self) -> bytes:
        """Return and remove the bytes received after the response head."""
        data = bytes(self._reader.buffer)
        self._reader.buffer.clear()
        self._reader.reset()
        return data


def _parse_status_line(line: str) -> tuple[int, str]:
    # RFC 7230 3.1.2: status-line = HTTP-version SP status-code SP reason-phrase.
    # A missing reason-phrase (and its SP) is tolerated: some servers omit it.
    version, _, rest = line.partition(" ")
    _parse_version(version)
    code, _, reason = rest.partition(" ")
    if len(code) != 3 or _DIGITS_RE.fullmatch(code) is None or code[0] == "0":
        raise HTTPError(400, "malformed status code")
    if _REASON_RE.fullmatch(reason) is None:
        raise HTTPError(400, "invalid character in reason phrase")
    return int(code), reason


def _check_field(name: str, value: str) -> None:
    """Refuse header fields that would split the message (local misuse, so ValueError)."""
    if not name or not name.isascii() or any(c in name for c in " \t\r\n:\x00"):
        raise ValueError(f"invalid header name: {name!r}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"invalid header value for {name}: {value!r}")


def _serialize_head(start_line: str, headers: Iterable[tuple[str, str]]) -> list[str]:
    parts = [start_line, "\r\n"]
    for name, value in headers:
        _check_field(name, value)
        parts += (name, ": ", value, "\r\n")
    return parts


def serialize_response(
    status: int,
    headers: list[tuple[str, str]] | Headers,
    body: bytes = b"",
    *,
    reason: str | None = None,
) -> bytes:
    """Serialise a response; adds ``Content-Length`` unless present or forbidden.

    RFC 7230 3.3.2: a server MUST NOT send Content-Length with 1xx or 204, and
    304 describes a body that is not sent, so those statuses never get one added.
    Raises :class:`ValueError` for header fields containing CR, LF or NUL.
    """
    if reason is None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    elif "\r" in reason or "\n" in reason:
        raise ValueError("invalid reason phrase")
    parts = _serialize_head(f"HTTP/1.1 {status} {reason}", headers)
    if status >= 200 and status not in _NO_BODY_STATUSES:
        has_length = (
            "Content-Length" in headers
            if isinstance(headers, Headers)
            else any(name.lower() == "content-length" for name, _ in headers)
        )
        if not has_length:
            parts += ("Content-Length: ", str(len(body)), "\r\n")
    parts.append("\r\n")
    head = "".join(parts).encode("latin-1")
    return head + body if body else head


def serialize_request(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | Headers,
) -> bytes:
    """Serialise a request head without a body (all a WebSocket client sends)."""
    if _TOKEN_RE.fullmatch(method) is None:
        raise ValueError(f"invalid method: {method!r}")
    if _TARGET_RE.fullmatch(target) is None:
        raise ValueError(f"invalid request target: {target!r}")
    parts = _serialize_head(f"{method} {target} HTTP/1.1", headers)
    parts.append("\r\n")
    return "".join(parts).encode("latin-1")
