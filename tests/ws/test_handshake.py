"""Tests for ws.handshake: the RFC 6455 section 4 opening handshake, both sides."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ws.deflate import DeflateConfig, client_offer
from ws.exceptions import HTTPError, InvalidHandshake
from ws.handshake import (
    Negotiated,
    accept_key,
    check_origin,
    check_request,
    check_response,
    client_negotiation,
    make_key,
    parse_extension_header,
    parse_header_tokens,
    request_headers,
    response_headers,
    select_subprotocol,
    server_negotiation,
)
from ws.http import Request
from ws.http11 import Headers, RequestHead, RequestParser, ResponseParser, StatusHead, serialize_request, serialize_response
from ws.protocol import Connection, Side

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request(headers: list[tuple[str, str]] = GOOD, method: str = "GET", version: str = "1.1") -> RequestHead:
    return RequestHead(method, "/chat", version, Headers(headers))


def replace(name: str, *values: str) -> list[tuple[str, str]]:
    """GOOD with every *name* field replaced by *values* (none: removed)."""
    kept = [(n, v) for n, v in GOOD if n.lower() != name.lower()]
    return kept + [(name, value) for value in values]


def refusal(head: RequestHead) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        check_request(head)
    return info.value


def test_accept_key_matches_rfc_6455_example() -> None:
    # RFC 6455 1.3 (the value printed in section 1.3 and 4.2.2)
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_check_request_returns_key() -> None:
    assert check_request(request()) == KEY


def test_check_request_accepts_a_request_object() -> None:
    req = Request.from_head(request())
    assert check_request(req) == KEY


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("Upgrade", ["WebSocket"]),
        ("Upgrade", ["h2c, websocket"]),
        ("Upgrade", ["foo/2", "websocket"]),
        ("Connection", ["keep-alive, Upgrade"]),
        ("Connection", ["keep-alive", "UPGRADE"]),
        ("Connection", ["keep-alive,,upgrade ,"]),
    ],
)
def test_check_request_token_lists(name: str, values: list[str]) -> None:
    assert check_request(request(replace(name, *values))) == KEY


def test_non_get_is_405_with_allow() -> None:
    exc = refusal(request(method="POST"))
    assert exc.status == 405
    assert exc.headers == [("Allow", "GET")]
    assert exc.reason == "WebSocket handshakes use GET"  # the body of the 405


def test_http_10_is_400() -> None:
    exc = refusal(request(version="1.0"))
    assert isinstance(exc, InvalidHandshake) and exc.status == 400
    assert exc.reason == "WebSocket handshakes need HTTP/1.1"


_BAD_KEY = "invalid Sec-WebSocket-Key"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (replace("Host"), "missing Host header"),
        (replace("Host", "a.example", "b.example"), "more than one Host header"),
        (replace("Upgrade"), "missing or invalid Upgrade header"),
        (replace("Upgrade", "h2c"), "missing or invalid Upgrade header"),
        (replace("Upgrade", "websockets"), "missing or invalid Upgrade header"),
        (replace("Connection"), "missing or invalid Connection header"),
        (replace("Connection", "keep-alive"), "missing or invalid Connection header"),
        (replace("Connection", "upgraded"), "missing or invalid Connection header"),
        (replace("Sec-WebSocket-Key"), "missing Sec-WebSocket-Key header"),
        (replace("Sec-WebSocket-Key", KEY, KEY), "more than one Sec-WebSocket-Key header"),
        (replace("Sec-WebSocket-Key", "not base64!"), _BAD_KEY),
        # base64 of 16 bytes with a character outside the alphabet: not a base64 value
        (replace("Sec-WebSocket-Key", KEY[:4] + "!" + KEY[4:]), _BAD_KEY),
        (replace("Sec-WebSocket-Key", base64.b64encode(b"x" * 15).decode()), _BAD_KEY),
        (replace("Sec-WebSocket-Key", base64.b64encode(b"x" * 17).decode()), _BAD_KEY),
        (replace("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"), _BAD_KEY),  # missing padding
        (replace("Sec-WebSocket-Key", "caf\xe9"), _BAD_KEY),
    ],
)
def test_bad_requests_are_invalid_handshake_400(headers: list[tuple[str, str]], reason: str) -> None:
    """RFC 6455 4.2.1: each missing or malformed field is refused with 400, and the
    reason (the body of the answer) names the field."""
    exc = refusal(request(headers))
    assert isinstance(exc, InvalidHandshake)
    assert exc.status == 400
    assert exc.reason == reason


@pytest.mark.parametrize("versions", [(), ("8",), ("13", "8"), ("13, 8",), ("14",)])
def test_other_versions_are_426(versions: tuple[str, ...]) -> None:
    exc = refusal(request(replace("Sec-WebSocket-Version", *versions)))
    assert isinstance(exc, InvalidHandshake)
    assert exc.status == 426
    assert exc.reason == "unsupported WebSocket version"
    # RFC 6455 4.4: the versions we speak; RFC 7231 6.5.15: a 426 names the protocol to upgrade to
    assert [(name.lower(), value) for name, value in exc.headers] == [
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
    ]


def test_check_origin() -> None:
    with_origin = request([*GOOD, ("Origin", "https://game.example")])
    check_origin(with_origin, None)
    check_origin(request(), None)
    check_origin(with_origin, ["https://other.example", "https://game.example"])
    with pytest.raises(InvalidHandshake) as info:
        check_origin(with_origin, ["https://other.example"])
    assert (info.value.status, info.value.reason) == (403, "origin not allowed")
    with pytest.raises(InvalidHandshake) as info:
        check_origin(request(), ["https://game.example"])
    assert info.value.status == 403
    check_origin(request(), ["https://game.example", None])
    with pytest.raises(InvalidHandshake) as info:
        check_origin(request([*GOOD, ("Origin", "https://a"), ("Origin", "https://b")]), ["https://a"])
    assert (info.value.status, info.value.reason) == (400, "more than one Origin header")


def test_select_subprotocol_prefers_server_order() -> None:
    head = request([*GOOD, ("Sec-WebSocket-Protocol", "chat, json"), ("Sec-WebSocket-Protocol", "msgpack")])
    assert select_subprotocol(head, ["msgpack", "json"]) == "msgpack"
    assert select_subprotocol(head, ["xml", "json"]) == "json"
    assert select_subprotocol(head, ["xml"]) is None
    assert select_subprotocol(head, ["JSON"]) is None  # subprotocols are case-sensitive
    assert select_subprotocol(request(), ["json"]) is None


def test_response_headers() -> None:
    assert response_headers(KEY) == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ]
    headers = response_headers(KEY, subprotocol="chat", extensions="permessage-deflate")
    assert headers[3:] == [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Extensions", "permessage-deflate")]


def test_make_key_is_16_random_bytes() -> None:
    keys = {make_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


def test_request_headers() -> None:
    headers = request_headers(
        "example.com:8000",
        KEY,
        origin="https://example.com",
        subprotocols=["chat", "json"],
        extensions="permessage-deflate",
        extra=[("Cookie", "a=1")],
    )
    assert headers == [
        ("Host", "example.com:8000"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "https://example.com"),
        ("Sec-WebSocket-Protocol", "chat, json"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ("Cookie", "a=1"),
    ]
    minimal = request_headers("h", KEY)
    assert [name for name, _ in minimal] == [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
    ]


def test_full_handshake_over_the_wire() -> None:
    """Client request -> server parser and checks -> 101 -> client parser and checks."""
    key = make_key()
    wire = serialize_request("GET", "/chat", request_headers("h", key, subprotocols=["json"]))
    server = RequestParser()
    server.feed(wire)
    head = server.next_request()
    assert head is not None
    server_key = check_request(head)
    assert server_key == key
    subprotocol = select_subprotocol(head, ["json"])
    client = ResponseParser()
    client.feed(serialize_response(101, response_headers(server_key, subprotocol=subprotocol)) + b"\x81\x00")
    status = client.next_response()
    assert status is not None
    assert check_response(status, key, subprotocols=["json"]) == ("json", None)
    assert client.take_buffer() == b"\x81\x00"


def status(headers: list[tuple[str, str]], code: int = 101, reason: str = "Switching Protocols") -> StatusHead:
    return StatusHead(code, reason, Headers(headers))


def test_check_response_returns_subprotocol_and_extensions() -> None:
    headers = response_headers(KEY) + [
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"),
        ("Sec-WebSocket-Extensions", "x-other"),
    ]
    assert check_response(status(headers), KEY) == (None, "permessage-deflate; server_no_context_takeover, x-other")
    assert check_response(status(response_headers(KEY, subprotocol="chat")), KEY) == ("chat", None)


def test_check_response_wrong_status_keeps_status() -> None:
    with pytest.raises(InvalidHandshake) as info:
        check_response(status([], 403, "Forbidden"), KEY)
    assert info.value.status == 403
    assert info.value.reason == "server answered 403 Forbidden"
    with pytest.raises(InvalidHandshake) as info:
        check_response(status([], 200, ""), KEY)
    assert info.value.reason == "server answered 200"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([h for h in response_headers(KEY) if h[0] != "Upgrade"], "missing or invalid Upgrade header"),
        ([h for h in response_headers(KEY) if h[0] != "Connection"], "missing or invalid Connection header"),
        (
            [h for h in response_headers(KEY) if h[0] != "Sec-WebSocket-Accept"],
            "missing or repeated Sec-WebSocket-Accept header",
        ),
        (
            [*response_headers(KEY), ("Sec-WebSocket-Accept", accept_key(KEY))],
            "missing or repeated Sec-WebSocket-Accept header",
        ),
        (response_headers(make_key()), "wrong Sec-WebSocket-Accept"),
        ([*response_headers(KEY), ("Sec-WebSocket-Protocol", "a, b")], "more than one subprotocol selected"),
    ],
)
def test_check_response_failures_are_status_0(headers: list[tuple[str, str]], reason: str) -> None:
    """RFC 6455 4.1: the client fails the connection; the reason is what the caller reads."""
    with pytest.raises(InvalidHandshake) as info:
        check_response(status(headers), KEY)
    assert info.value.status == 0
    assert info.value.reason == reason


def test_check_response_refuses_unoffered_subprotocol() -> None:
    head = status(response_headers(KEY, subprotocol="xml"))
    assert check_response(head, KEY) == ("xml", None)
    for offered in (["json"], []):
        with pytest.raises(InvalidHandshake) as info:
            check_response(head, KEY, subprotocols=offered)
        assert (info.value.status, info.value.reason) == (0, "server selected unoffered subprotocol 'xml'")


def test_parse_header_tokens() -> None:
    assert parse_header_tokens([]) == []
    assert parse_header_tokens(["a, b", " c ,,\t", "", "D"]) == ["a", "b", "c", "D"]
    # Tokens keep every tchar (RFC 7230 3.2.6), capitals included, at either end.
    assert parse_header_tokens(["XMPP, SOAP-X"]) == ["XMPP", "SOAP-X"]


def test_parse_header_tokens_strips_only_optional_whitespace() -> None:
    """RFC 7230 3.2.3: OWS is spaces and tabs; other characters, even ones Python
    calls whitespace, stay part of the element (and fail any comparison)."""
    assert parse_header_tokens([" \tchat\t , \x0bjson\x0c"]) == ["chat", "\x0bjson\x0c"]


def test_parse_extension_header_rfc_7692_example() -> None:
    assert parse_extension_header(
        ["permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-other"]
    ) == [
        ("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]),
        ("x-other", []),
    ]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([""], []),
        (["  ,  , "], []),
        (["a", "b;c"], [("a", []), ("b", [("c", None)])]),
        (["a ; b = 1 ; c\t;d=\"15\""], [("a", [("b", "1"), ("c", None), ("d", "15")])]),
        (['a; b="x\\yz"'], [("a", [("b", "xyz")])]),
        (["a, a; b"], [("a", []), ("a", [("b", None)])]),
        ([",a"], [("a", [])]),  # RFC 7230 7: empty list elements are skipped, not what follows
        (["a,,b"], [("a", []), ("b", [])]),
        (["X-Ext; X=Y"], [("X-Ext", [("X", "Y")])]),
    ],
)
def test_parse_extension_header(values: list[str], expected: list) -> None:
    assert parse_extension_header(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        "a b",
        ";a",
        "a;",
        "a;=1",
        "a; b=",
        "a; b=1 2",
        'a; b="1',
        'a; b="x y"',  # quoted value must unescape to a token
        'a; b=""',
        "a; b=1=2",
        "a/1",
        "a; b c",
        "caf\xe9",
    ],
)
def test_parse_extension_header_malformed(value: str) -> None:
    with pytest.raises(InvalidHandshake) as info:
        parse_extension_header([value])
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (";a", "invalid extension name"),
        ("a;", "invalid extension parameter name"),
        ("a; b=", "invalid extension parameter value"),
        ('a; b="x y"', "quoted extension parameter value is not a token"),
        ("a b", "invalid Sec-WebSocket-Extensions header"),
    ],
)
def test_parse_extension_header_malformed_reasons(value: str, reason: str) -> None:
    """The reason is the body of the 400 the server answers (RFC 6455 9.1 grammar)."""
    with pytest.raises(InvalidHandshake) as info:
        parse_extension_header([value])
    assert info.value.reason == reason


# RFC 7230 3.2.6: tchar
_token = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10
)
_extension = st.tuples(_token, st.lists(st.tuples(_token, st.one_of(st.none(), _token)), max_size=4))


@given(st.lists(_extension, max_size=5), st.booleans(), st.sampled_from(["", " ", "\t "]))
def test_parse_extension_header_round_trip(
    extensions: list[tuple[str, list[tuple[str, str | None]]]], quote: bool, ows: str
) -> None:
    def param(name: str, value: str | None) -> str:
        if value is None:
            return name
        return f'{name}{ows}={ows}"{value}"' if quote else f"{name}={value}"

    text = f"{ows},{ows}".join(
        f"{ows};{ows}".join([name, *(param(p, v) for p, v in params)]) for name, params in extensions
    )
    assert parse_extension_header([text]) == [(name, list(params)) for name, params in extensions]


# ---------------------------------------------------------------------- negotiation, both sides


def test_negotiation_agrees_on_both_sides_and_the_codecs_interoperate() -> None:
    """server_negotiation and client_negotiation give one Negotiated each; the
    permessage-deflate codecs they build speak to each other."""
    config = DeflateConfig(compress_threshold=0)
    key = make_key()
    offer = request_headers("h", key, subprotocols=["json"], extensions=client_offer(config))
    head = RequestHead("GET", "/chat", "1.1", Headers(offer))
    served = server_negotiation(head, subprotocols=["xml", "json"], compression=config)
    assert served.subprotocol == "json" and served.extensions is not None and served.deflate is not None
    answer = status(response_headers(check_request(head), subprotocol=served.subprotocol, extensions=served.extensions))
    got = client_negotiation(answer, key, subprotocols=["json"], compression=config)
    assert (got.subprotocol, got.extensions) == ("json", served.extensions)
    assert got.deflate is not None and got.deflate.threshold == 0
    server = Connection(Side.SERVER, deflate=served.deflate)
    client = Connection(Side.CLIENT, deflate=got.deflate)
    assert server.receive_data(client.send_text("hello " * 20)) == ["hello " * 20]
    assert client.receive_data(server.send_text("back " * 20)) == ["back " * 20]


def test_negotiation_without_compression_or_offers() -> None:
    key = make_key()
    offer = request_headers("h", key, extensions="permessage-deflate")
    head = RequestHead("GET", "/", "1.1", Headers(offer))
    assert server_negotiation(head, compression=None) == Negotiated()
    plain = RequestHead("GET", "/", "1.1", Headers(request_headers("h", key)))
    assert server_negotiation(plain, compression=DeflateConfig()) == Negotiated()
    assert client_negotiation(status(response_headers(key)), key, compression=DeflateConfig()) == Negotiated()


@pytest.mark.parametrize(
    "config",
    [
        DeflateConfig(compress_threshold=0, server_no_context_takeover=True),
        DeflateConfig(compress_threshold=0, client_no_context_takeover=True),
    ],
    ids=["server_no_context_takeover", "client_no_context_takeover"],
)
def test_negotiated_codecs_keep_each_side_to_its_own_terms(config: DeflateConfig) -> None:
    """RFC 7692 7.1.1: the side named by *_no_context_takeover compresses each
    message afresh and its peer decompresses each afresh; each codec must take
    its own side's half of the terms, or a repeated message (which refers back
    to the first when the context is kept) cannot be read by the peer."""
    key = make_key()
    head = RequestHead("GET", "/", "1.1", Headers(request_headers("h", key, extensions=client_offer(config))))
    served = server_negotiation(head, compression=config)
    answer = status(response_headers(key, extensions=served.extensions))
    got = client_negotiation(answer, key, compression=config)
    server = Connection(Side.SERVER, deflate=served.deflate)
    client = Connection(Side.CLIENT, deflate=got.deflate)
    text = "the same message, twice " * 8
    for _ in range(2):
        assert client.receive_data(server.send_text(text)) == [text]
        assert server.receive_data(client.send_text(text)) == [text]


def test_negotiation_keeps_the_subprotocol_whatever_becomes_of_compression() -> None:
    key = make_key()
    with_deflate = request_headers("h", key, subprotocols=["json"], extensions="permessage-deflate")
    head = RequestHead("GET", "/", "1.1", Headers(with_deflate))
    assert server_negotiation(head, subprotocols=["json"]) == Negotiated("json")
    only_other = request_headers("h", key, subprotocols=["json"], extensions="x-other")
    head = RequestHead("GET", "/", "1.1", Headers(only_other))
    assert server_negotiation(head, subprotocols=["json"], compression=DeflateConfig()) == Negotiated("json")
    answer = status(response_headers(key, subprotocol="json"))
    assert client_negotiation(answer, key, subprotocols=["json"], compression=DeflateConfig()) == Negotiated("json")


def test_client_negotiation_refuses_an_unoffered_subprotocol() -> None:
    answer = status(response_headers(KEY, subprotocol="xml"))
    with pytest.raises(InvalidHandshake) as info:
        client_negotiation(answer, KEY, subprotocols=["json"])
    assert info.value.reason == "server selected unoffered subprotocol 'xml'"


def test_client_negotiation_reads_an_empty_extension_list_as_none() -> None:
    """RFC 7230 7: a list of empty elements holds no extension: no compression."""
    answer = status([*response_headers(KEY), ("Sec-WebSocket-Extensions", ", ,")])
    got = client_negotiation(answer, KEY, compression=DeflateConfig())
    assert got.deflate is None


def test_client_negotiation_refuses_an_extension_it_did_not_offer() -> None:
    answer = status(response_headers(KEY, extensions="permessage-deflate"))
    with pytest.raises(InvalidHandshake) as info:
        client_negotiation(answer, KEY, compression=None)
    assert info.value.status == 0
    assert info.value.reason == "server accepted an extension we did not offer"


def test_server_negotiation_malformed_extensions_is_400() -> None:
    head = request(replace("Sec-WebSocket-Extensions", "permessage-deflate; =x"))
    with pytest.raises(InvalidHandshake) as info:
        server_negotiation(head, compression=DeflateConfig())
    assert info.value.status == 400
