"""Tests for ws.http11: headers, the incremental request/response parsers, serialisers."""

from __future__ import annotations

import json
import pathlib
import secrets
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.exceptions import HTTPError
from ws.http11 import Headers, RequestHead, RequestParser, ResponseParser, StatusHead, serialize_request, serialize_response

SIMPLE = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing: a\r\nx-thing: b\r\n\r\n"


def parse_one(data: bytes, **limits: int | None) -> RequestHead | None:
    parser = RequestParser(**limits)
    parser.feed(data)
    return parser.next_request()


def status_of(data: bytes, **limits: int | None) -> int:
    with pytest.raises(HTTPError) as info:
        parse_one(data, **limits)
    return info.value.status


# Headers


def test_headers_lookup_is_case_insensitive_and_keeps_order_and_case() -> None:
    headers = Headers([("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")])
    assert headers["content-type"] == "text/plain"
    assert headers["X-A"] == "1"
    assert headers.get_all("X-a") == ["1", "2"]
    assert list(headers) == [("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")]
    assert list(headers.items()) == headers.raw
    assert len(headers) == 3
    assert "CONTENT-TYPE" in headers
    assert "Missing" not in headers
    assert 42 not in headers


def test_headers_missing_names() -> None:
    headers = Headers()
    with pytest.raises(KeyError):
        headers["Host"]
    assert headers.get("Host") is None
    assert headers.get("Host", "x") == "x"
    assert headers.get_all("Host") == []
    assert len(headers) == 0


def test_headers_add_updates_lookup() -> None:
    headers = Headers([("A", "1")])
    headers.add("a", "2")
    assert headers.get_all("A") == ["1", "2"]
    assert headers.raw == [("A", "1"), ("a", "2")]


def test_headers_add_after_a_lookup_keeps_the_index_in_step() -> None:
    headers = Headers([("A", "1")])
    assert headers["a"] == "1"  # the index exists from here on
    headers.add("a", "2")
    headers.add("New-Name", "3")
    assert headers.get_all("A") == ["1", "2"]
    assert headers["new-name"] == "3" and "NEW-NAME" in headers


def test_headers_compact_drops_the_index_and_lookups_still_work() -> None:
    headers = Headers([("A", "1")])
    assert headers["A"] == "1"
    headers.compact()
    headers.add("B", "2")
    assert (headers["a"], headers["b"]) == ("1", "2")
    headers.compact()
    assert headers.get_all("A") == ["1"]


def test_headers_get_all_returns_a_copy() -> None:
    headers = Headers([("A", "1")])
    headers.get_all("A").append("x")
    assert headers.get_all("A") == ["1"]


def test_headers_equality() -> None:
    assert Headers([("A", "1"), ("B", "2")]) == Headers([("a", "1"), ("b", "2")])
    assert Headers([("A", "1"), ("B", "2")]) != Headers([("B", "2"), ("A", "1")])
    assert Headers([("A", "1")]) != Headers([("A", "2")])
    assert Headers([("A", "1")]) != Headers([("A", "1"), ("A", "1")])
    assert Headers([("A", "1")]) == [("a", "1")]
    assert Headers() != "A: 1"


# RequestParser: valid input


def test_parse_simple_request() -> None:
    head = parse_one(SIMPLE)
    assert head == RequestHead(
        "GET",
        "/chat?room=1",
        "1.1",
        Headers([("Host", "example.com"), ("X-Thing", "a"), ("x-thing", "b")]),
        b"",
    )


def test_incomplete_head_returns_none_until_complete() -> None:
    parser = RequestParser()
    parser.feed(SIMPLE[:-1])
    assert parser.next_request() is None
    parser.feed(SIMPLE[-1:])
    assert parser.next_request() is not None
    assert parser.next_request() is None


def test_header_values_are_trimmed_and_may_be_empty_or_latin1() -> None:
    head = parse_one(b"GET / HTTP/1.1\r\nA:   spaced value \t\r\nB:\r\nC: caf\xe9\r\n\r\n")
    assert head is not None
    assert head.headers["A"] == "spaced value"
    assert head.headers["B"] == ""
    assert head.headers["C"] == "caf\xe9"


def test_body_by_content_length_arriving_later() -> None:
    parser = RequestParser()
    parser.feed(b"POST /move HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel")
    assert parser.next_request() is None
    parser.feed(b"loGET")
    head = parser.next_request()
    assert head is not None
    assert (head.method, head.body) == ("POST", b"hello")
    assert parser.take_buffer() == b"GET"


def test_identical_repeated_content_length_is_accepted() -> None:
    head = parse_one(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok")
    assert head is not None and head.body == b"ok"


def test_empty_lines_before_request_line_are_ignored() -> None:
    head = parse_one(b"\r\n\r\n" + SIMPLE)
    assert head is not None and head.target == "/chat?room=1"


def test_take_buffer_returns_bytes_after_request_and_empties() -> None:
    parser = RequestParser()
    parser.feed(SIMPLE + b"\x81\x05hello")
    assert parser.next_request() is not None
    assert parser.take_buffer() == b"\x81\x05hello"
    assert parser.take_buffer() == b""
    assert parser.next_request() is None


def test_take_buffer_drops_request_in_progress() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert parser.next_request() is None
    assert parser.take_buffer() == b"GET / HTTP/1.1\r\nHost: x\r\n"
    parser.feed(SIMPLE)
    head = parser.next_request()
    assert head is not None and head.target == "/chat?room=1"


@pytest.mark.parametrize(
    ("version", "connection", "expected"),
    [
        ("1.1", None, True),
        ("1.1", "close", False),
        ("1.1", "Keep-Alive, Close", False),
        ("1.1", "upgrade", True),
        ("1.0", None, False),
        ("1.0", "keep-alive", True),
        ("1.0", "Keep-Alive", True),
        ("1.0", "close", False),
        ("1.1", "Keep-Alive,Close", False),  # a list need not have spaces
        ("1.1", "keep-alive,\tclose", False),
        ("1.1", "close\xa0", True),  # not the token close: only SP and HTAB are whitespace (RFC 7230 3.2.3)
        ("1.1", "Xclose, keep-aliveX", True),
    ],
)
def test_keep_alive(version: str, connection: str | None, expected: bool) -> None:
    headers = Headers([("Connection", connection)] if connection else [])
    assert RequestHead("GET", "/", version, headers).keep_alive is expected


# RequestParser: malformed input and limits


@pytest.mark.parametrize(
    "data",
    [
        b"GET /\r\n\r\n",  # missing version
        b"GET  / HTTP/1.1\r\n\r\n",  # double space
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",  # not a token
        b"G\xc9T / HTTP/1.1\r\n\r\n",  # non-ASCII method
        b"GET /caf\xe9 HTTP/1.1\r\n\r\n",  # non-ASCII target
        b"GET /a\x01 HTTP/1.1\r\n\r\n",  # control byte in target
        b"GET / HTTX/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nName : value\r\n\r\n",  # whitespace before colon
        b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",  # obs-fold
        b"GET / HTTP/1.1\r\n\tfolded: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nB\xe4d: 1\r\n\r\n",  # non-ASCII name
        b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n",  # control byte in value
        b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",  # bare CR
        b"GET / HTTP/1.1\nHost: x\n\n",  # bare LF
        b"GET / HTTP/1.1\r\nHost: x\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2, 3\r\n\r\n",
    ],
)
def test_malformed_requests_are_400(data: bytes) -> None:
    assert status_of(data) == 400


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2"])
def test_unsupported_versions_are_505(version: bytes) -> None:
    assert status_of(b"GET / " + version + b"\r\n\r\n") == 505


def test_http_10_is_accepted() -> None:
    head = parse_one(b"GET / HTTP/1.0\r\n\r\n")
    assert head is not None and head.version == "1.0"


@pytest.mark.parametrize("coding", [b"chunked", b"gzip, chunked", b"identity"])
def test_transfer_encoding_is_501(coding: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: " + coding + b"\r\nContent-Length: 3\r\n\r\n"
    assert status_of(data) == 501


def test_request_line_limit_414() -> None:
    line = b"GET /" + b"a" * 100 + b" HTTP/1.1"
    assert parse_one(line + b"\r\n\r\n", max_line=len(line)) is not None
    assert status_of(line + b"\r\n\r\n", max_line=len(line) - 1) == 414


def test_request_line_limit_raises_before_line_ends() -> None:
    parser = RequestParser(max_line=50)
    parser.feed(b"GET /" + b"a" * 45)
    assert parser.next_request() is None
    parser.feed(b"a" * 10)
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert info.value.status == 414


def test_header_count_limit_431() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(5)) + b"\r\n"
    assert parse_one(data, max_headers=5) is not None
    assert status_of(data, max_headers=4) == 431


def test_header_count_limit_raises_before_head_ends() -> None:
    parser = RequestParser(max_headers=3)
    parser.feed(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 4)
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert info.value.status == 431


def test_header_size_limit_431() -> None:
    line = b"X: " + b"v" * 97
    assert parse_one(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n", max_header_size=100) is not None
    assert status_of(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n", max_header_size=99) == 431


def test_header_size_limit_raises_before_line_ends() -> None:
    parser = RequestParser(max_header_size=100)
    parser.feed(b"GET / HTTP/1.1\r\nX: ")
    assert parser.next_request() is None
    parser.feed(b"v" * 200)
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert info.value.status == 431


def test_body_limit_413_without_waiting_for_body() -> None:
    assert parse_one(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + b"x" * 10, max_body=10)
    parser = RequestParser(max_body=10)
    parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert info.value.status == 413


def test_huge_content_length_is_413_not_a_crash() -> None:
    assert status_of(b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n") == 413
    data = b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    assert status_of(data, max_body=None) == 400


def test_none_disables_limits() -> None:
    long_line = b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n"
    many = b"".join(b"H%d: v\r\n" % i for i in range(300))
    big = b"X: " + b"v" * 20_000 + b"\r\n"
    data = long_line + many + big + b"Content-Length: 2000000\r\n\r\n" + b"b" * 2_000_000
    head = parse_one(data, max_line=None, max_headers=None, max_header_size=None, max_body=None)
    assert head is not None
    assert len(head.headers) == 302
    assert len(head.body) == 2_000_000


def test_default_limits() -> None:
    assert status_of(b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n") == 414
    assert status_of(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 129 + b"\r\n") == 431
    assert parse_one(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 128 + b"\r\n") is not None
    assert status_of(b"GET / HTTP/1.1\r\nA: " + b"1" * 8190 + b"\r\n\r\n") == 431
    assert status_of(b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n") == 413


# Property tests

_tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)
_names = _tokens.filter(lambda n: n.lower() not in ("content-length", "transfer-encoding"))
_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, RequestHead]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "HEAD"]))
    target = "/" + draw(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30))
    version = draw(st.sampled_from(["1.0", "1.1"]))
    pairs = draw(st.lists(st.tuples(_names, _values), max_size=8))
    body = draw(st.binary(max_size=50))
    if body:
        pairs.append(("Content-Length", str(len(body))))
    data = f"{method} {target} HTTP/{version}\r\n".encode()
    data += b"".join(f"{n}: {v}\r\n".encode() for n, v in pairs) + b"\r\n" + body
    return data, RequestHead(method, target, version, Headers(pairs), body)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


@given(requests(), st.lists(st.integers(min_value=0), max_size=20))
def test_any_chunking_gives_same_request(request: tuple[bytes, RequestHead], cuts: list[int]) -> None:
    data, expected = request
    parser = RequestParser()
    results = []
    for piece in split_at(data, cuts):
        parser.feed(piece)
        while (head := parser.next_request()) is not None:
            results.append(head)
    assert results == [expected]
    assert parser.take_buffer() == b""


@given(st.lists(requests(), min_size=1, max_size=5), st.lists(st.integers(min_value=0), max_size=10))
def test_pipelined_requests_come_out_in_order(batch: list[tuple[bytes, RequestHead]], cuts: list[int]) -> None:
    parser = RequestParser()
    results = []
    for piece in split_at(b"".join(data for data, _ in batch), cuts):
        parser.feed(piece)
        while (head := parser.next_request()) is not None:
            results.append(head)
    assert results == [expected for _, expected in batch]


_fragments = st.sampled_from([b"\r\n", b"\r\n\r\n", b"GET / HTTP/1.1", b": ", b"Content-Length: 3", b"\n", b" "])


@settings(max_examples=300)
@given(st.lists(st.one_of(st.binary(max_size=40), _fragments), max_size=20))
def test_arbitrary_bytes_raise_only_http_error(pieces: list[bytes]) -> None:
    parser = RequestParser(max_line=64, max_headers=4, max_header_size=64, max_body=16)
    try:
        for piece in pieces:
            parser.feed(piece)
            while parser.next_request() is not None:
                pass
    except HTTPError as exc:
        assert exc.status in (400, 413, 414, 431, 501, 505)


@given(st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=300))
def test_request_line_limit_property(length: int, limit: int) -> None:
    data = b"GET /" + b"a" * length + b" HTTP/1.1\r\n\r\n"
    line_length = len(data) - 4
    if line_length <= limit:
        assert parse_one(data, max_line=limit) is not None
    else:
        assert status_of(data, max_line=limit) == 414


_BAD_REQUESTS = [
    (b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 5 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nA: " + b"v" * 70 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n" + b"x" * 17, 413),
    (b"GET / HTTP/1.2\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nA: 1\r\n\tB: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
]


@given(st.sampled_from(_BAD_REQUESTS), st.lists(st.integers(min_value=0), max_size=20))
def test_errors_do_not_depend_on_chunking(case: tuple[bytes, int], cuts: list[int]) -> None:
    data, expected = case
    parser = RequestParser(max_line=64, max_headers=4, max_header_size=64, max_body=16)
    with pytest.raises(HTTPError) as info:
        for piece in split_at(data, cuts):
            parser.feed(piece)
            assert parser.next_request() is None
    assert info.value.status == expected


# ResponseParser


def test_response_parser_returns_head_once_and_leftover_bytes() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi")
    head = parser.next_response()
    assert head == StatusHead(101, "Switching Protocols", Headers([("Upgrade", "websocket")]))
    assert parser.next_response() is None
    assert parser.take_buffer() == b"\x81\x02hi"


@given(st.lists(st.integers(min_value=0), max_size=10))
def test_response_parser_any_chunking(cuts: list[int]) -> None:
    data = b"HTTP/1.1 404 Not Found\r\nA: 1\r\nB: 2\r\n\r\nrest"
    parser = ResponseParser()
    heads = []
    for piece in split_at(data, cuts):
        parser.feed(piece)
        if (head := parser.next_response()) is not None:
            heads.append(head)
    assert heads == [StatusHead(404, "Not Found", Headers([("A", "1"), ("B", "2")]))]
    assert parser.take_buffer() == b"rest"


def test_response_without_reason_phrase() -> None:
    for line in (b"HTTP/1.1 101", b"HTTP/1.1 101 "):
        parser = ResponseParser()
        parser.feed(line + b"\r\n\r\n")
        head = parser.next_response()
        assert head is not None and (head.status, head.reason) == (101, "")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"HTTP/1.1 1O1 OK\r\n\r\n", 400),
        (b"HTTP/1.1 99 OK\r\n\r\n", 400),
        (b"HTTP/1.1 1011 OK\r\n\r\n", 400),
        (b"HTTP/1.1 099 OK\r\n\r\n", 400),
        (b"HTTP/2.0 200 OK\r\n\r\n", 505),
        (b"ICY 200 OK\r\n\r\n", 400),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", 400),
        (b"HTTP/1.1 200 OK\nA: 1\n\n", 400),
    ],
)
def test_response_parser_errors(data: bytes, status: int) -> None:
    parser = ResponseParser()
    parser.feed(data)
    with pytest.raises(HTTPError) as info:
        parser.next_response()
    assert info.value.status == status


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"HTTP/1.1 1O1 OK\r\n\r\n", "malformed status code"),
        (b"HTTP/1.1 099 OK\r\n\r\n", "malformed status code"),
        (b"HTTP/1.1 200 O\x7fK\r\n\r\n", "invalid character in reason phrase"),
        (b"HTTP/1.1 200 O\x00K\r\n\r\n", "invalid character in reason phrase"),
    ],
)
def test_response_parser_says_why(data: bytes, reason: str) -> None:
    parser = ResponseParser()
    parser.feed(data)
    with pytest.raises(HTTPError) as info:
        parser.next_response()
    assert (info.value.status, info.value.reason) == (400, reason)


def test_response_parser_default_limits() -> None:
    def outcome(data: bytes) -> int | StatusHead | None:
        parser = ResponseParser()
        parser.feed(data)
        try:
            return parser.next_response()
        except HTTPError as exc:
            return exc.status

    line = b"HTTP/1.1 200 " + b"O" * (8192 - 13)
    assert isinstance(outcome(line + b"\r\n\r\n"), StatusHead)
    assert outcome(line + b"O\r\n\r\n") == 400
    assert isinstance(outcome(b"HTTP/1.1 200 OK\r\n" + b"A: 1\r\n" * 128 + b"\r\n"), StatusHead)
    assert outcome(b"HTTP/1.1 200 OK\r\n" + b"A: 1\r\n" * 129 + b"\r\n") == 431
    assert isinstance(outcome(b"HTTP/1.1 200 OK\r\nA: " + b"1" * 8189 + b"\r\n\r\n"), StatusHead)
    assert outcome(b"HTTP/1.1 200 OK\r\nA: " + b"1" * 8190 + b"\r\n\r\n") == 431


def test_response_parser_is_done_after_one_head_even_if_another_follows() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
    assert parser.next_response() is not None
    assert parser.next_response() is None
    assert parser.take_buffer() == b"HTTP/1.1 200 OK\r\n\r\n"


def test_response_parser_limits() -> None:
    parser = ResponseParser(max_headers=2)
    parser.feed(b"HTTP/1.1 200 OK\r\n" + b"A: 1\r\n" * 3)
    with pytest.raises(HTTPError) as info:
        parser.next_response()
    assert info.value.status == 431
    parser = ResponseParser(max_line=20)
    parser.feed(b"HTTP/1.1 200 " + b"O" * 30)
    with pytest.raises(HTTPError) as info:
        parser.next_response()
    assert info.value.status == 400


# Serialisers


def test_serialize_response_adds_reason_and_content_length() -> None:
    assert serialize_response(200, [("Content-Type", "text/plain")], b"hi") == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    )


def test_serialize_response_keeps_existing_content_length() -> None:
    data = serialize_response(200, Headers([("content-length", "2")]), b"hi")
    assert data == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"
    for name in ("content-length", "Content-Length", "CONTENT-LENGTH"):
        data = serialize_response(200, [(name, "2")], b"hi")  # a plain list of pairs too
        assert data == b"HTTP/1.1 200 OK\r\n" + name.encode() + b": 2\r\n\r\nhi"


@pytest.mark.parametrize("reason", ["a\rb", "a\nb", "\r\n"])
def test_serialize_response_refuses_a_reason_that_would_split_the_head(reason: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid reason phrase$"):
        serialize_response(200, [], reason=reason)


@pytest.mark.parametrize("status", [100, 101, 204, 304])
def test_serialize_response_without_content_length(status: int) -> None:
    assert b"Content-Length" not in serialize_response(status, [])


def test_serialize_response_reason_override_and_unknown_status() -> None:
    assert serialize_response(200, [], reason="Fine").startswith(b"HTTP/1.1 200 Fine\r\n")
    assert serialize_response(599, []).startswith(b"HTTP/1.1 599 \r\n")


@pytest.mark.parametrize(
    "header",
    [("X", "a\r\nSet-Cookie: evil"), ("X", "a\nb"), ("X\r\nY", "1"), ("X Y", "1"), ("", "1"), ("X", "\x00")],
)
def test_serialize_refuses_header_injection(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        serialize_response(200, [header])
    with pytest.raises(ValueError):
        serialize_request("GET", "/", [header])


def test_serialize_says_which_field_it_refuses() -> None:
    with pytest.raises(ValueError, match=r"^invalid header name: 'X Y'$"):
        serialize_response(200, [("X Y", "1")])
    for value in ("a\rb", "a\nb", "a\x00b"):
        with pytest.raises(ValueError, match=r"^invalid header value for X: "):
            serialize_response(200, [("X", value)])
    with pytest.raises(ValueError, match=r"^invalid method: 'GE T'$"):
        serialize_request("GE T", "/", [])
    with pytest.raises(ValueError, match=r"^invalid request target: '/a b'$"):
        serialize_request("GET", "/a b", [])


def test_serialize_response_round_trips_through_response_parser() -> None:
    parser = ResponseParser()
    parser.feed(serialize_response(101, [("Upgrade", "websocket"), ("X", "caf\xe9")]))
    head = parser.next_response()
    assert head == StatusHead(101, "Switching Protocols", Headers([("Upgrade", "websocket"), ("X", "caf\xe9")]))


def test_serialize_request_round_trips_through_request_parser() -> None:
    data = serialize_request("GET", "/chat?x=1", [("Host", "h"), ("Upgrade", "websocket")])
    assert data == b"GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"
    head = parse_one(data)
    assert head == RequestHead("GET", "/chat?x=1", "1.1", Headers([("Host", "h"), ("Upgrade", "websocket")]))


@pytest.mark.parametrize(("method", "target"), [("GE T", "/"), ("GET", "/a b"), ("GET", "/\r\n"), ("GET", "")])
def test_serialize_request_refuses_bad_request_line(method: str, target: str) -> None:
    with pytest.raises(ValueError):
        serialize_request(method, target, [])


def test_sans_io_modules_do_not_import_asyncio() -> None:
    root = pathlib.Path(__file__).resolve().parents[2] / "ws"
    for name in ("http11.py", "handshake.py", "http.py", "routing.py"):
        source = (root / name).read_text()
        assert "import asyncio" not in source and "from asyncio" not in source, name


# The reason of each refusal: it is the body of the error response the peer gets.


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400, "obsolete line folding in headers"),
        (b"GET / HTTP/1.1\r\nA: 1\r\n\tfolded\r\n\r\n", 400, "obsolete line folding in headers"),
        (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "header line without a colon"),
        (b"GET / HTTP/1.1\r\nName : value\r\n\r\n", 400, "whitespace before the colon in a header"),
        (b"GET / HTTP/1.1\r\nName\t: value\r\n\r\n", 400, "whitespace before the colon in a header"),
        # The first colon ends the name, whatever colons the value holds.
        (b"GET / HTTP/1.1\r\nName : a:b\r\n\r\n", 400, "whitespace before the colon in a header"),
        (b"GET / HTTP/1.1\r\nB\xe4d: 1\r\n\r\n", 400, "invalid header name"),
        (b"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400, "invalid header name"),
        (b"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n", 400, "invalid character in header value"),
        (b"GET / HTTP/1.1\r\nA: x:\x7fy\r\n\r\n", 400, "invalid character in header value"),
        (b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 400, "line not terminated by CRLF"),
        (b"GET / HTTP/1.1\r\nHost: x\n\r\n", 400, "line not terminated by CRLF"),
        (b"GET /\r\n\r\n", 400, "malformed request line"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400, "malformed request line"),
        (b"G(T / HTTP/1.1\r\n\r\n", 400, "invalid method"),
        (b"GET /caf\xe9 HTTP/1.1\r\n\r\n", 400, "invalid request target"),
        (b"GET / HTTX/1.1\r\n\r\n", 400, "malformed HTTP version"),
        (b"GET / HTTP/1.2\r\n\r\n", 505, "HTTP version not supported"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "Transfer-Encoding in requests is not supported"),
        (b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400, "conflicting Content-Length values"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 19 + b"\r\n\r\n", 413, "request body too large"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413, "request body too large"),
        (b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n", 414, "start line too long"),
        (b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 129 + b"\r\n", 431, "too many headers"),
        (b"GET / HTTP/1.1\r\nA: " + b"1" * 8190 + b"\r\n\r\n", 431, "header line too long"),
    ],
)
def test_each_refusal_says_why(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(HTTPError) as info:
        parse_one(data)
    assert (info.value.status, info.value.reason) == (status, reason)


def test_a_content_length_too_long_to_read_is_400_without_a_body_limit() -> None:
    with pytest.raises(HTTPError) as info:
        parse_one(b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 19 + b"\r\n\r\n", max_body=None)
    assert (info.value.status, info.value.reason) == (400, "Content-Length too large")
    # 18 digits is still a length: the parser waits for that body.
    assert parse_one(b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 18 + b"\r\n\r\n", max_body=None) is None


def test_leading_zeros_do_not_count_towards_the_content_length_digits() -> None:
    head = parse_one(b"POST / HTTP/1.1\r\nContent-Length: " + b"0" * 30 + b"3\r\n\r\nabc", max_body=None)
    assert head is not None and head.body == b"abc"


def test_a_repeated_content_length_list_with_spaces_is_one_length() -> None:
    head = parse_one(b"POST / HTTP/1.1\r\nContent-Length: 3 ,3\r\nContent-Length:  3\r\n\r\nabc")
    assert head is not None and head.body == b"abc"


def test_trailing_whitespace_of_a_value_is_not_part_of_it() -> None:
    head = parse_one(b"GET / HTTP/1.1\r\nA: x \t\r\nB:\t y\t \r\n\r\n")
    assert head is not None and head.headers.raw == [("A", "x"), ("B", "y")]


def test_a_bare_lf_starting_the_buffer_is_refused_before_the_head_ends() -> None:
    parser = RequestParser()
    parser.feed(b"\nGET / HTTP/1.1\r")
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert (info.value.status, info.value.reason) == (400, "line not terminated by CRLF")


def test_an_incomplete_line_is_measured_without_its_carriage_return() -> None:
    # A header line of exactly the limit, its CR already received: not too long.
    parser = RequestParser(max_header_size=100)
    parser.feed(b"GET / HTTP/1.1\r\nX: " + b"v" * 97 + b"\r")
    assert parser.next_request() is None
    parser.feed(b"\n\r\n")
    head = parser.next_request()
    assert head is not None and head.headers["X"] == "v" * 97
    # Two bytes over the limit before any CR: refused at once.
    parser = RequestParser(max_header_size=100)
    parser.feed(b"GET / HTTP/1.1\r\nX: " + b"v" * 99)
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert (info.value.status, info.value.reason) == (431, "header line too long")


def test_the_start_line_limit_of_an_incomplete_line() -> None:
    parser = RequestParser(max_line=20)
    parser.feed(b"GET /" + b"a" * 15)  # 20 bytes: at the limit
    assert parser.next_request() is None
    parser.feed(b"a")
    assert parser.next_request() is None  # 21: may be the line's CR
    parser.feed(b"a")
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert (info.value.status, info.value.reason) == (414, "start line too long")


# Run in a fresh interpreter: the caches are the process's, and the rest of the
# suite (every server's Host with its port) may have filled them already.
_SHARING = """
import json
from ws.http11 import RequestParser

def parse(head, **limits):
    parser = RequestParser(**limits)
    parser.feed(head.encode("latin-1"))
    return parser.next_request().headers.raw

def shared(head, **limits):
    a, b = parse(head, **limits), parse(head, **limits)
    return [[x[0] is y[0], x[1] is y[1]] for x, y in zip(a, b)]

out = {}
out["first"] = shared("GET / HTTP/1.1\\r\\nHost: shared.example\\r\\nX-Id: 7777777777\\r\\n\\r\\n")
out["lengths"] = shared("GET / HTTP/1.1\\r\\nOrigin: " + "o" * 64 + "\\r\\nUpgrade: " + "u" * 65 + "\\r\\n\\r\\n")
names = "".join("N%d: v\\r\\n" % i for i in range(600))
out["names"] = sum(n for n, _ in shared("GET / HTTP/1.1\\r\\n" + names + "\\r\\n", max_headers=None))
hosts = [parse("GET / HTTP/1.1\\r\\nHost: h%d\\r\\n\\r\\n" % i) for i in range(600)]
again = [parse("GET / HTTP/1.1\\r\\nHost: h%d\\r\\n\\r\\n" % i) for i in range(600)]
out["values"] = sum(a[0][1] is b[0][1] for a, b in zip(hosts, again))
print(json.dumps(out))
"""


def test_common_names_and_values_are_shared_between_requests_up_to_a_bound() -> None:
    # A WebSocket keeps its request's headers for its whole life: the names, and the
    # values of the common fields (Host, Upgrade, Origin...) up to 64 characters, are
    # one string for every request; other values are not.  Each cache holds 512.
    # Here: the same head parses to equal fields, shared or not (and this test is
    # one that runs the parser in-process, so mutmut knows to run it for its mutants).
    head = b"GET / HTTP/1.1\r\nHost: shared.example\r\nX-Id: 7777777777\r\n\r\n"
    first, second = parse_one(head), parse_one(head)
    assert first is not None and second is not None and first.headers.raw == second.headers.raw
    done = subprocess.run([sys.executable, "-c", _SHARING], capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(done.stdout)
    assert out["first"] == [[True, True], [True, False]]
    assert out["lengths"] == [[True, True], [True, False]]
    assert out["names"] == 512 - 4  # Host, X-Id, Origin, Upgrade came first
    assert out["values"] == 512 - 2  # shared.example and the 64 o's came first


def test_the_default_request_limits_are_exact() -> None:
    line = b"GET /" + b"a" * (8192 - 14) + b" HTTP/1.1"
    assert len(line) == 8192 and parse_one(line + b"\r\n\r\n") is not None
    assert status_of(b"GET /" + b"a" * (8192 - 13) + b" HTTP/1.1\r\n\r\n") == 414
    assert parse_one(b"GET / HTTP/1.1\r\nA: " + b"1" * 8189 + b"\r\n\r\n") is not None
    body = b"x" * 1_048_576
    head = parse_one(b"POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n" + body)
    assert head is not None and head.body == body


def test_a_value_never_seen_before_is_kept_as_sent() -> None:
    # Values of the shared fields go through a cache: one it has never held comes out as sent.
    host, upgrade = f"h{secrets.token_hex(8)}.example", secrets.token_hex(4)
    head = parse_one(f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: {upgrade}\r\n\r\n".encode())
    assert head is not None and (head.headers["Host"], head.headers["upgrade"]) == (host, upgrade)
    assert head.headers.raw == [("Host", host), ("Upgrade", upgrade)]


def test_a_value_keeps_trailing_characters_other_than_space_and_tab() -> None:
    head = parse_one(b"GET / HTTP/1.1\r\nA: x\xa0\r\nB: y\x85\r\n\r\n")
    assert head is not None and head.headers.raw == [("A", "x\xa0"), ("B", "y\x85")]


def test_the_limits_of_a_head_still_arriving() -> None:
    # Complete lines of an unfinished head are measured without their CRLF.
    parser = RequestParser(max_header_size=10, max_headers=3)
    parser.feed(b"GET / HTTP/1.1\r\nAB: 123456\r\nCD: 123456\r\nE: 1\r\n")  # 10, 10: at the limit; 3 fields
    assert parser.next_request() is None
    parser.feed(b"\r\n")
    head = parser.next_request()
    assert head is not None and len(head.headers) == 3
    parser = RequestParser(max_header_size=10)
    parser.feed(b"GET / HTTP/1.1\r\nAB: 1234567\r\n")  # 11, complete, the head not
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert (info.value.status, info.value.reason) == (431, "header line too long")


def test_the_second_request_on_a_connection_is_checked_from_its_own_start() -> None:
    first = b"GET / HTTP/1.1\r\n\r\n"
    # Its start line is line 0 again (the start-line limit, not the header one) ...
    parser = RequestParser(max_line=100, max_header_size=30)
    parser.feed(first + b"GET /" + b"a" * 45)
    assert parser.next_request() is not None
    assert parser.next_request() is None
    # ... and measured from its first byte.
    parser = RequestParser(max_line=20)
    parser.feed(first + b"GET /" + b"a" * 17)  # 22 bytes, no CR yet: over by 2
    assert parser.next_request() is not None
    with pytest.raises(HTTPError) as info:
        parser.next_request()
    assert info.value.status == 414


def test_a_request_after_a_body_and_after_take_buffer_is_parsed_whole() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET /next HTTP/1.1\r\n\r\n")
    assert parser.next_request() is not None
    head = parser.next_request()
    assert head is not None and (head.target, head.body) == ("/next", b"")
    parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
    assert parser.next_request() is None
    assert parser.take_buffer() == b"ab"
    parser.feed(b"GET /after HTTP/1.1\r\n\r\n")
    head = parser.next_request()
    assert head is not None and (head.target, head.body) == ("/after", b"")


@pytest.mark.parametrize("cut", range(1, 3))
def test_exactly_the_most_headers_allowed_whatever_the_packets(cut: int) -> None:
    # The blank line ending the head may come in a later packet: until a byte of
    # another field arrives, the head holds no more fields than allowed.
    data = b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 3 + b"\r\n"
    for split in (len(data) - cut, len(data) - 2):
        parser = RequestParser(max_headers=3)
        parser.feed(data[:split])
        assert parser.next_request() is None
        parser.feed(data[split:])
        head = parser.next_request()
        assert head is not None and len(head.headers) == 3
    parser = RequestParser(max_headers=3)
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        head = parser.next_request()
    assert head is not None and len(head.headers) == 3
    for begun in (b"B", b"BC"):  # a fourth field begins
        parser = RequestParser(max_headers=3)
        parser.feed(data[:-2] + begun)
        with pytest.raises(HTTPError) as info:
            parser.next_request()
        assert (info.value.status, info.value.reason) == (431, "too many headers")
