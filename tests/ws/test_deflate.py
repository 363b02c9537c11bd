"""Tests for ws.deflate: RFC 7692 negotiation, compression, and inflation limits."""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.deflate import (
    DeflateConfig,
    DeflateParams,
    Deflater,
    Inflater,
    client_accept,
    client_offer,
    compression_config,
    server_negotiate,
)
from ws.exceptions import InvalidHandshake, InvalidPayload, PayloadTooBig

PMD = "permessage-deflate"
TAIL = b"\x00\x00\xff\xff"


def parse(header: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """A minimal Sec-WebSocket-Extensions parser, enough for the values built here."""
    result = []
    for element in header.split(","):
        name, *params = [part.strip() for part in element.split(";")]
        parsed: list[tuple[str, str | None]] = []
        for param in params:
            key, sep, value = param.partition("=")
            parsed.append((key.strip(), value.strip() if sep else None))
        result.append((name, parsed))
    return result


# -- parameters and configuration -------------------------------------------------


@pytest.mark.parametrize(
    ("params", "header"),
    [
        (DeflateParams(), "permessage-deflate"),
        (
            DeflateParams(server_no_context_takeover=True, client_max_window_bits=12),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
        ),
        (
            DeflateParams(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=8,
            ),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            " server_max_window_bits=9; client_max_window_bits=8",
        ),
        (DeflateParams(server_max_window_bits=15, client_max_window_bits=15), "permessage-deflate"),
    ],
)
def test_params_to_header(params: DeflateParams, header: str) -> None:
    assert params.to_header() == header


@pytest.mark.parametrize("bits", [7, 16, 0, -1])
def test_params_reject_window_bits_out_of_range(bits: int) -> None:
    with pytest.raises(ValueError):
        DeflateParams(server_max_window_bits=bits)
    with pytest.raises(ValueError):
        DeflateParams(client_max_window_bits=bits)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 8},
        {"client_max_window_bits": 8},
        {"server_max_window_bits": 16},
        {"level": 10},
        {"level": -1},
        {"compress_threshold": -1},
    ],
)
def test_config_validation(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        DeflateConfig(**kwargs)


@pytest.mark.parametrize(
    ("make", "low"),
    [(DeflateParams, 8), (DeflateConfig, 9)],
    ids=["params", "config"],
)
def test_window_bits_bounds_are_inclusive(make, low: int) -> None:
    """RFC 7692 7.1.2: window bits 8 (9 for what we configure) to 15, both ends allowed;
    the error names the field and the range."""
    for name in ("server_max_window_bits", "client_max_window_bits"):
        for bits in (low, 15):
            assert getattr(make(**{name: bits}), name) == bits
        for bits in (low - 1, 16):
            with pytest.raises(ValueError) as info:
                make(**{name: bits})
            assert str(info.value) == f"{name} must be between {low} and 15, got {bits}"


def test_compression_config() -> None:
    assert compression_config(True) == DeflateConfig()
    assert compression_config(False) is None and compression_config(None) is None
    mine = DeflateConfig(level=1)
    assert compression_config(mine) is mine


def words_message() -> bytes:
    """16 KB of random words: text whose compressed form depends on the zlib level."""
    r = random.Random(3)
    words = [bytes(r.choices(b"abcdefgh", k=r.randint(2, 7))) for _ in range(60)]
    return b" ".join(r.choice(words) for _ in range(3000))


def test_config_codec_takes_its_own_sides_half_and_the_configured_level() -> None:
    """RFC 7692 7.1: a side compresses on the terms named after it and inflates on
    its peer's; the threshold and the zlib level come from the config."""
    params = DeflateParams(server_no_context_takeover=True, client_max_window_bits=9)
    config = DeflateConfig(level=1, compress_threshold=7)
    server = config.codec(params, is_server=True)
    client = config.codec(params, is_server=False)
    assert (server.threshold, client.threshold) == (7, 7)
    message = random.Random(5).randbytes(2000) * 2  # refers 2000 bytes back: beyond a 9-bit window
    sent = [server.deflater.compress(message) for _ in range(2)]
    # server_no_context_takeover: each message afresh, at level 1
    assert sent[0] == sent[1] == Deflater(params, is_server=True, level=1).compress(message)
    assert [client.inflater.decompress(data, True, None) for data in sent] == [message, message]
    # the client keeps its context (within a 9-bit window): the second message refers
    # back to the first, and the server's inflater keeps it too
    short = b"the quick brown fox jumps over the lazy dog, " * 5
    back = [client.deflater.compress(short) for _ in range(2)]
    assert len(back[1]) < len(back[0]) // 4
    assert [server.inflater.decompress(data, True, None) for data in back] == [short, short]
    text = words_message()
    assert config.codec(params, is_server=True).deflater.compress(text) == Deflater(
        params, is_server=True, level=1
    ).compress(text) != Deflater(params, is_server=True).compress(text)


def test_config_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        DeflateConfig(True)  # type: ignore[misc]
    assert DeflateConfig().compress_threshold == 128
    assert DeflateConfig().level == 6


# -- server negotiation -----------------------------------------------------------

SERVER_CASES = [
    # (offer header, server config, expected params or None)
    ("permessage-deflate", DeflateConfig(), DeflateParams()),
    ("permessage-deflate; client_max_window_bits", DeflateConfig(), DeflateParams()),
    (
        "permessage-deflate; client_max_window_bits",
        DeflateConfig(client_max_window_bits=10),
        DeflateParams(client_max_window_bits=10),
    ),
    (
        "permessage-deflate; client_max_window_bits=12",
        DeflateConfig(),
        DeflateParams(client_max_window_bits=12),
    ),
    (
        "permessage-deflate; client_max_window_bits=12",
        DeflateConfig(client_max_window_bits=10),
        DeflateParams(client_max_window_bits=10),
    ),
    (
        "permessage-deflate; client_max_window_bits=9",
        DeflateConfig(client_max_window_bits=10),
        DeflateParams(client_max_window_bits=9),
    ),
    # The client may limit its own window to 8: we only decompress that.
    (
        "permessage-deflate; client_max_window_bits=8",
        DeflateConfig(),
        DeflateParams(client_max_window_bits=8),
    ),
    (
        "permessage-deflate; server_max_window_bits=10",
        DeflateConfig(),
        DeflateParams(server_max_window_bits=10),
    ),
    (
        "permessage-deflate; server_max_window_bits=12",
        DeflateConfig(server_max_window_bits=10),
        DeflateParams(server_max_window_bits=10),
    ),
    (
        "permessage-deflate",
        DeflateConfig(server_max_window_bits=11),
        DeflateParams(server_max_window_bits=11),
    ),
    # We cannot compress with an 8-bit window: declined.
    ("permessage-deflate; server_max_window_bits=8", DeflateConfig(), None),
    (
        "permessage-deflate; server_no_context_takeover",
        DeflateConfig(),
        DeflateParams(server_no_context_takeover=True),
    ),
    (
        "permessage-deflate; client_no_context_takeover",
        DeflateConfig(),
        DeflateParams(client_no_context_takeover=True),
    ),
    # The server's configuration forces no context takeover on either side.
    (
        "permessage-deflate",
        DeflateConfig(server_no_context_takeover=True, client_no_context_takeover=True),
        DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
    ),
    # A server that must bound the client's window cannot when the client does
    # not support client_max_window_bits.
    ("permessage-deflate", DeflateConfig(client_max_window_bits=10), None),
    # Invalid offers are declined.
    ("permessage-deflate; foo", DeflateConfig(), None),
    ("permessage-deflate; foo=1", DeflateConfig(), None),
    ("permessage-deflate; server_no_context_takeover=1", DeflateConfig(), None),
    ("permessage-deflate; client_no_context_takeover=x", DeflateConfig(), None),
    ("permessage-deflate; server_max_window_bits", DeflateConfig(), None),
    ("permessage-deflate; server_max_window_bits=16", DeflateConfig(), None),
    ("permessage-deflate; server_max_window_bits=7", DeflateConfig(), None),
    ("permessage-deflate; server_max_window_bits=010", DeflateConfig(), None),
    ("permessage-deflate; server_max_window_bits=+9", DeflateConfig(), None),
    ("permessage-deflate; client_max_window_bits=", DeflateConfig(), None),
    ("permessage-deflate; client_max_window_bits=1.5", DeflateConfig(), None),
    # Duplicate parameters are declined, even with equal values.
    (
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        DeflateConfig(),
        None,
    ),
    (
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
        DeflateConfig(),
        None,
    ),
    ("permessage-deflate; client_max_window_bits; client_max_window_bits", DeflateConfig(), None),
    # Other extensions are ignored.
    ("x-webkit-deflate-frame", DeflateConfig(), None),
    ("foo; bar, permessage-deflate", DeflateConfig(), DeflateParams()),
    # The first acceptable offer wins; invalid ones before it are skipped.
    (
        "permessage-deflate; foo, permessage-deflate; server_max_window_bits=11,"
        " permessage-deflate; server_max_window_bits=12",
        DeflateConfig(),
        DeflateParams(server_max_window_bits=11),
    ),
    (
        "permessage-deflate; server_max_window_bits=8,"
        " permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
        DeflateConfig(),
        DeflateParams(client_max_window_bits=10, server_no_context_takeover=True),
    ),
    (
        "permessage-deflate, permessage-deflate; client_max_window_bits",
        DeflateConfig(client_max_window_bits=9),
        DeflateParams(client_max_window_bits=9),
    ),
    ("permessage-deflate; x, permessage-deflate; y=1", DeflateConfig(), None),
    ("", DeflateConfig(), None),
]


@pytest.mark.parametrize(("offer", "config", "expected"), SERVER_CASES)
def test_server_negotiate(
    offer: str, config: DeflateConfig, expected: DeflateParams | None
) -> None:
    offers = parse(offer) if offer else []
    assert server_negotiate(offers, config) == expected


def test_server_negotiate_accepts_quoted_values_and_any_case() -> None:
    offers = [("Permessage-Deflate", [("Client_Max_Window_Bits", '"10"')])]
    assert server_negotiate(offers, DeflateConfig()) == DeflateParams(client_max_window_bits=10)


def test_quoted_values_unescape_quoted_pairs() -> None:
    """RFC 6455 9.1 and RFC 7230 3.2.6: a backslash escapes the next character; one
    left alone at the end escapes the closing quote, which leaves the value unterminated."""
    escaped = [(PMD, [("client_max_window_bits", '"1\\0"')])]
    assert server_negotiate(escaped, DeflateConfig()) == DeflateParams(client_max_window_bits=10)
    unterminated = [(PMD, [("client_max_window_bits", '"10\\"')])]
    assert server_negotiate([*unterminated, (PMD, [])], DeflateConfig()) == DeflateParams()


def test_server_response_header() -> None:
    offers = parse("permessage-deflate; client_max_window_bits; server_max_window_bits=10")
    params = server_negotiate(offers, DeflateConfig(client_max_window_bits=12))
    assert params is not None
    assert params.to_header() == (
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"
    )


# -- client offer and acceptance --------------------------------------------------


@pytest.mark.parametrize(
    ("config", "header"),
    [
        (DeflateConfig(), "permessage-deflate; client_max_window_bits"),
        (
            DeflateConfig(client_max_window_bits=10),
            "permessage-deflate; client_max_window_bits=10",
        ),
        (
            DeflateConfig(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=12,
            ),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            " server_max_window_bits=12; client_max_window_bits",
        ),
    ],
)
def test_client_offer(config: DeflateConfig, header: str) -> None:
    assert client_offer(config) == header


CLIENT_OK = [
    # (response header, client config, expected params)
    ("permessage-deflate", DeflateConfig(), DeflateParams()),
    (
        "permessage-deflate; server_no_context_takeover",
        DeflateConfig(),
        DeflateParams(server_no_context_takeover=True),
    ),
    (
        "permessage-deflate; client_no_context_takeover",
        DeflateConfig(),
        DeflateParams(client_no_context_takeover=True),
    ),
    # We keep our own no-context-takeover even if the server does not echo it.
    (
        "permessage-deflate",
        DeflateConfig(client_no_context_takeover=True),
        DeflateParams(client_no_context_takeover=True),
    ),
    (
        "permessage-deflate; server_max_window_bits=8",
        DeflateConfig(),
        DeflateParams(server_max_window_bits=8),
    ),
    (
        "permessage-deflate; server_max_window_bits=10",
        DeflateConfig(server_max_window_bits=12),
        DeflateParams(server_max_window_bits=10),
    ),
    (
        "permessage-deflate; client_max_window_bits=9",
        DeflateConfig(),
        DeflateParams(client_max_window_bits=9),
    ),
    (
        "permessage-deflate; client_max_window_bits=10",
        DeflateConfig(client_max_window_bits=12),
        DeflateParams(client_max_window_bits=10),
    ),
    # Without an answer, we still honour the bound we offered.
    (
        "permessage-deflate",
        DeflateConfig(client_max_window_bits=11),
        DeflateParams(client_max_window_bits=11),
    ),
    (
        "permessage-deflate; server_max_window_bits=15",
        DeflateConfig(server_max_window_bits=15),
        DeflateParams(),
    ),
]


@pytest.mark.parametrize(("response", "config", "expected"), CLIENT_OK)
def test_client_accept(response: str, config: DeflateConfig, expected: DeflateParams) -> None:
    assert client_accept(parse(response), config) == expected


def test_client_accept_empty_response_means_no_compression() -> None:
    assert client_accept([], DeflateConfig()) is None


CLIENT_BAD = [
    ("permessage-deflate; foo", DeflateConfig()),
    ("permessage-deflate; server_no_context_takeover=1", DeflateConfig()),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", DeflateConfig()),
    ("permessage-deflate; server_max_window_bits=7", DeflateConfig()),
    ("permessage-deflate; server_max_window_bits=16", DeflateConfig()),
    ("permessage-deflate; server_max_window_bits", DeflateConfig()),
    ("permessage-deflate; server_max_window_bits=09", DeflateConfig()),
    # A response must give client_max_window_bits a value (RFC 7692 7.1.2.2).
    ("permessage-deflate; client_max_window_bits", DeflateConfig()),
    # Larger than offered.
    ("permessage-deflate; client_max_window_bits=12", DeflateConfig(client_max_window_bits=10)),
    ("permessage-deflate; server_max_window_bits=12", DeflateConfig(server_max_window_bits=10)),
    # Offered server window not accepted (absent means 15).
    ("permessage-deflate", DeflateConfig(server_max_window_bits=10)),
    # Offered server_no_context_takeover not accepted.
    ("permessage-deflate", DeflateConfig(server_no_context_takeover=True)),
    # We cannot compress with an 8-bit window.
    ("permessage-deflate; client_max_window_bits=8", DeflateConfig()),
    # More than one extension, or one we did not offer.
    ("permessage-deflate, permessage-deflate", DeflateConfig()),
    ("x-webkit-deflate-frame", DeflateConfig()),
    ("permessage-deflate, foo", DeflateConfig()),
]


@pytest.mark.parametrize(("response", "config"), CLIENT_BAD)
def test_client_accept_refuses_bad_responses(response: str, config: DeflateConfig) -> None:
    with pytest.raises(InvalidHandshake) as info:
        client_accept(parse(response), config)
    assert info.value.status == 0


BAD = f"invalid {PMD} response: "


@pytest.mark.parametrize(
    ("response", "config", "reason"),
    [
        (parse(f"{PMD}; foo"), DeflateConfig(), BAD + "unknown parameter 'foo'"),
        (
            parse(f"{PMD}; server_no_context_takeover; server_no_context_takeover"),
            DeflateConfig(),
            BAD + "duplicate parameter server_no_context_takeover",
        ),
        (parse(f"{PMD}; server_no_context_takeover=1"), DeflateConfig(), BAD + "server_no_context_takeover takes no value"),
        (parse(f"{PMD}; client_max_window_bits"), DeflateConfig(), BAD + "client_max_window_bits needs a value"),
        (parse(f"{PMD}; server_max_window_bits=09"), DeflateConfig(), BAD + "invalid server_max_window_bits='09'"),
        # a quoted value is judged, and named, unquoted
        ([(PMD, [("server_max_window_bits", '""')])], DeflateConfig(), BAD + "invalid server_max_window_bits=''"),
        ([(PMD, [("server_max_window_bits", '"15\\"')])], DeflateConfig(), BAD + 'unterminated quoted value "15\\"'),
        (parse(PMD), DeflateConfig(server_no_context_takeover=True), BAD + "server_no_context_takeover was offered but not accepted"),
        (
            parse(f"{PMD}; server_max_window_bits=12"),
            DeflateConfig(server_max_window_bits=10),
            BAD + "server_max_window_bits=12 exceeds the offer",
        ),
        (
            parse(f"{PMD}; client_max_window_bits=12"),
            DeflateConfig(client_max_window_bits=10),
            BAD + "client_max_window_bits=12 exceeds the offer",
        ),
        (parse(f"{PMD}; client_max_window_bits=8"), DeflateConfig(), BAD + "zlib cannot compress with an 8-bit window"),
        (parse(f"{PMD}, {PMD}"), DeflateConfig(), "more than one extension in the response"),
        (parse("x-webkit-deflate-frame"), DeflateConfig(), "unexpected extension 'x-webkit-deflate-frame'"),
    ],
)
def test_client_accept_refusal_reasons(response, config: DeflateConfig, reason: str) -> None:
    """RFC 7692 5.1: the client fails the connection; the reason tells the caller why."""
    with pytest.raises(InvalidHandshake) as info:
        client_accept(response, config)
    assert info.value.reason == reason


configs = st.builds(
    DeflateConfig,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.none() | st.integers(9, 15),
    client_max_window_bits=st.none() | st.integers(9, 15),
)


@given(client=configs, server=configs)
def test_client_and_server_agree(client: DeflateConfig, server: DeflateConfig) -> None:
    params = server_negotiate(parse(client_offer(client)), server)
    assert params is not None  # our client always offers client_max_window_bits
    assert client_accept(parse(params.to_header()), client) == params
    # Each side's constraints hold.
    for config in (client, server):
        if config.server_max_window_bits is not None:
            assert params.server_max_window_bits <= config.server_max_window_bits
        assert params.server_no_context_takeover >= config.server_no_context_takeover
    if server.client_max_window_bits is not None:
        assert params.client_max_window_bits <= server.client_max_window_bits
    if client.client_max_window_bits is not None:
        assert params.client_max_window_bits <= client.client_max_window_bits
    assert params.client_no_context_takeover >= server.client_no_context_takeover


# -- websockets interop (negotiation and data) ------------------------------------


def test_websockets_client_against_our_server() -> None:
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        PerMessageDeflate,
    )
    from websockets.frames import Frame, Opcode

    factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=11, client_max_window_bits=True
    )
    params = server_negotiate(
        [(PMD, factory.get_request_params())], DeflateConfig(client_max_window_bits=10)
    )
    assert params == DeflateParams(server_max_window_bits=11, client_max_window_bits=10)
    theirs: PerMessageDeflate = factory.process_response_params(parse(params.to_header())[0][1], [])

    deflater = Deflater(params, is_server=True)
    inflater = Inflater(params, is_server=True)
    for message in [b"hello " * 100, b"hello " * 100, bytes(range(256)) * 4]:
        frame = Frame(Opcode.BINARY, deflater.compress(message), rsv1=True)
        assert theirs.decode(frame).data == message
        encoded = theirs.encode(Frame(Opcode.BINARY, message))
        assert encoded.rsv1
        assert inflater.decompress(encoded.data, True, None) == message


def test_our_client_against_websockets_server() -> None:
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode

    config = DeflateConfig(server_no_context_takeover=True, server_max_window_bits=12)
    factory = ServerPerMessageDeflateFactory(client_max_window_bits=9)
    response_params, theirs = factory.process_request_params(
        parse(client_offer(config))[0][1], []
    )
    params = client_accept([(PMD, response_params)], config)
    assert params == DeflateParams(
        server_no_context_takeover=True, server_max_window_bits=12, client_max_window_bits=9
    )

    deflater = Deflater(params, is_server=False)
    inflater = Inflater(params, is_server=False)
    for message in [b"abc" * 500, b"abc" * 500, b""]:
        frame = Frame(Opcode.BINARY, deflater.compress(message), rsv1=True)
        assert theirs.decode(frame).data == message
        encoded = theirs.encode(Frame(Opcode.BINARY, message))
        assert inflater.decompress(encoded.data, True, None) == message


# -- compression ------------------------------------------------------------------


def test_rfc_7692_examples_compress() -> None:
    # RFC 7692 7.2.3.1 and 7.2.3.2: "Hello", then "Hello" again sharing the window.
    deflater = Deflater(DeflateParams(), is_server=True)
    assert deflater.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
    assert deflater.compress(b"Hello") == bytes.fromhex("f200110000")


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("f248cdc9c90700"),  # 7.2.3.1: one compressed block
        bytes.fromhex("0005 00faff 48656c6c6f 00"),  # 7.2.3.3: a stored block
        bytes.fromhex("f348cdc9c90700"),  # 7.2.3.4: a block with BFINAL set
        bytes.fromhex("f24805000000ffffcac9c90700"),  # 7.2.3.5: two blocks
    ],
)
def test_rfc_7692_examples_inflate(data: bytes) -> None:
    inflater = Inflater(DeflateParams(), is_server=False)
    assert inflater.decompress(data, True, None) == b"Hello"
    # The connection goes on after each form, including after BFINAL.
    assert inflater.decompress(bytes.fromhex("f248cdc9c90700"), True, None) == b"Hello"


def test_empty_message_is_one_zero_octet() -> None:
    # RFC 7692 7.2.3.6
    deflater = Deflater(DeflateParams(), is_server=False)
    assert deflater.compress(b"") == b"\x00"
    inflater = Inflater(DeflateParams(), is_server=True)
    assert inflater.decompress(b"\x00", True, None) == b""


def test_empty_message_after_another_is_one_zero_octet() -> None:
    """RFC 7692 7.2.3.6, with the context kept: the flush alone is only the removed tail."""
    deflater = Deflater(DeflateParams(), is_server=True)
    deflater.compress(b"Hello")
    assert deflater.compress(b"") == b"\x00"


def test_default_level_is_zlibs_default() -> None:
    """Level 6 unless told otherwise (DeflateConfig's default too)."""
    message = words_message()  # compresses differently at 6 and 7
    assert Deflater(DeflateParams(), is_server=True).compress(message) == Deflater(
        DeflateParams(), is_server=True, level=6
    ).compress(message)
    assert Deflater(DeflateParams(), is_server=True).compress(message) != Deflater(
        DeflateParams(), is_server=True, level=7
    ).compress(message)


@pytest.mark.parametrize("wbits", [9, 12, 15])
def test_compressor_memory_follows_the_window(wbits: int) -> None:
    """The module's promise: a compressor takes about 2**(wbits + 2) + 2**(memLevel + 9)
    bytes with memLevel = wbits - 7, so the window bits bound the memory (256 KiB at 15,
    32 KiB at 12); zlib adds a fixed state of a few KiB."""
    expected = 2 ** (wbits + 2) + 2 ** (wbits - 7 + 9)
    deflater = Deflater(DeflateParams(server_max_window_bits=wbits), is_server=True)
    tracemalloc.start()
    try:
        deflater.compress(b"abc" * 10)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expected <= used <= expected + 16384


def test_compressed_output_has_no_tail_and_no_bfinal() -> None:
    deflater = Deflater(DeflateParams(), is_server=True)
    for message in [b"x", b"hello world" * 30, bytes(range(256)) * 40]:
        data = deflater.compress(message)
        assert not data.endswith(TAIL)
        # With the tail restored this is a stream that is not finished.
        decompressor = zlib.decompressobj(-15)
        decompressor.decompress(data + TAIL)
        assert not decompressor.eof


def test_context_takeover_shrinks_repeated_messages() -> None:
    message = b"the quick brown fox jumps over the lazy dog, " * 5
    with_context = Deflater(DeflateParams(), is_server=True)
    first = with_context.compress(message)
    assert len(with_context.compress(message)) < len(first) // 4

    without = Deflater(DeflateParams(server_no_context_takeover=True), is_server=True)
    assert without.compress(message) == without.compress(message) == first


def test_deflater_uses_its_own_side() -> None:
    params = DeflateParams(client_no_context_takeover=True)
    message = b"abcdefgh" * 40
    server = Deflater(params, is_server=True)
    client = Deflater(params, is_server=False)
    first = server.compress(message)
    assert len(server.compress(message)) < len(first)  # server keeps its context
    assert client.compress(message) == client.compress(message)  # client resets


def test_deflater_refuses_window_bits_8() -> None:
    with pytest.raises(ValueError, match=r"^zlib cannot compress with an 8-bit window$"):
        Deflater(DeflateParams(server_max_window_bits=8), is_server=True)
    Deflater(DeflateParams(server_max_window_bits=8), is_server=False)  # not our side


@pytest.mark.parametrize("level", [-2, 10])
def test_deflater_refuses_bad_levels(level: int) -> None:
    with pytest.raises(ValueError) as info:
        Deflater(DeflateParams(), is_server=True, level=level)
    assert str(info.value) == f"level must be between 0 and 9, got {level}"


@pytest.mark.parametrize("wbits", range(9, 16))
def test_interop_with_zlib_as_the_rfc_describes(wbits: int) -> None:
    # A peer using zlib directly: raw deflate, sync flush, strip 00 00 ff ff.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    params = DeflateParams(client_max_window_bits=wbits)
    inflater = Inflater(params, is_server=True)
    for message in [b"alpha " * 300, b"beta " * 300, b"alpha beta " * 300, b""]:
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TAIL)
        assert inflater.decompress(data[:-4], True, None) == message

    # And the other way: zlib inflates what we produce.
    deflater = Deflater(params, is_server=False)
    decompressor = zlib.decompressobj(-wbits)
    for message in [b"gamma " * 300, b"gamma " * 300]:
        assert decompressor.decompress(deflater.compress(message) + TAIL) == message


# -- round trips ------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=3000) | st.text(max_size=500).map(str.encode), max_size=8),
    wbits=st.integers(9, 15),
    no_context_takeover=st.booleans(),
    is_server=st.booleans(),
    level=st.integers(0, 9),
)
def test_round_trip(
    messages: list[bytes], wbits: int, no_context_takeover: bool, is_server: bool, level: int
) -> None:
    params = DeflateParams(
        server_no_context_takeover=no_context_takeover,
        client_no_context_takeover=no_context_takeover,
        server_max_window_bits=wbits,
        client_max_window_bits=wbits,
    )
    deflater = Deflater(params, is_server=is_server, level=level)
    inflater = Inflater(params, is_server=not is_server)
    for message in messages:
        assert inflater.decompress(deflater.compress(message), True, len(message)) == message


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=2000), min_size=1, max_size=5),
    wbits=st.integers(9, 15),
    no_context_takeover=st.booleans(),
    data=st.data(),
)
def test_round_trip_fragmented(
    messages: list[bytes], wbits: int, no_context_takeover: bool, data: st.DataObject
) -> None:
    # Each compressed message is cut into frames at arbitrary points (empty
    # frames included) and fed frame by frame with the remaining allowance.
    params = DeflateParams(
        client_no_context_takeover=no_context_takeover, client_max_window_bits=wbits
    )
    deflater = Deflater(params, is_server=False)
    inflater = Inflater(params, is_server=True)
    for message in messages:
        payload = deflater.compress(message * 3)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=6)))
        bounds = [0, *cuts, len(payload)]
        frames = [payload[a:b] for a, b in zip(bounds, bounds[1:])]
        out = b""
        for index, frame in enumerate(frames):
            out += inflater.decompress(frame, index == len(frames) - 1, len(message) * 3 - len(out))
        assert out == message * 3


def test_inflater_resets_when_the_peer_has_no_context_takeover() -> None:
    message = b"repeat me please " * 20
    with_context = Deflater(DeflateParams(), is_server=True)
    first, second = with_context.compress(message), with_context.compress(message)

    # Agreed: the server resets.  Its second message then must not refer back.
    inflater = Inflater(DeflateParams(server_no_context_takeover=True), is_server=False)
    assert inflater.decompress(first, True, None) == message
    with pytest.raises(InvalidPayload):
        inflater.decompress(second, True, None)

    # With context takeover, the back-reference resolves.
    inflater = Inflater(DeflateParams(), is_server=False)
    assert inflater.decompress(first, True, None) == message
    assert inflater.decompress(second, True, None) == message


# -- invalid data and size limits -------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff\xff",  # reserved block type
        bytes.fromhex("0005 0000ff 48656c6c6f"),  # stored block with a bad NLEN
        bytes.fromhex("f3 48cdc9c90700") + b"junk",  # data after a final block
    ],
)
def test_corrupt_data_is_invalid_payload(data: bytes) -> None:
    inflater = Inflater(DeflateParams(), is_server=True)
    with pytest.raises(InvalidPayload) as info:
        inflater.decompress(data, True, None)
    assert info.value.code == 1007


def finished(message: bytes) -> bytes:
    """*message* as a deflate stream ended by a BFINAL block (RFC 7692 7.2.3.4)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(message) + compressor.flush(zlib.Z_FINISH)


@pytest.mark.parametrize(
    ("data", "final"),
    [
        (finished(b"Hello") + b"X", True),  # one byte after the end, then our own tail
        (finished(b"Hello") + TAIL, False),  # a tail the peer sent, in a frame that is not the last
    ],
)
def test_data_after_a_final_block_is_invalid_payload(data: bytes, final: bool) -> None:
    """Only the 00 00 ff ff the receiver appends to a message's last frame may follow
    a BFINAL block (RFC 7692 7.2.2); the reason is what the peer reads in our close frame."""
    with pytest.raises(InvalidPayload) as info:
        Inflater(DeflateParams(), is_server=True).decompress(data, final, None)
    assert info.value.reason == "data after the end of the compressed stream"


def test_invalid_compressed_data_reason() -> None:
    with pytest.raises(InvalidPayload) as info:
        Inflater(DeflateParams(), is_server=True).decompress(b"\xff\xff\xff\xff", True, None)
    assert info.value.reason == "invalid compressed data"


def test_peer_window_larger_than_agreed_is_invalid_payload() -> None:
    # The peer promised 9 bits (512 bytes) but refers 20,000 bytes back.
    chunk = random.Random(7).randbytes(20_000)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(chunk + b"\x00" * 100 + chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    inflater = Inflater(DeflateParams(client_max_window_bits=9), is_server=True)
    with pytest.raises(InvalidPayload):
        inflater.decompress(data[:-4], True, None)


def test_size_limit_boundary() -> None:
    message = b"0123456789" * 1000
    payload = Deflater(DeflateParams(), is_server=True).compress(message)
    assert Inflater(DeflateParams(), is_server=False).decompress(
        payload, True, len(message)
    ) == message
    with pytest.raises(PayloadTooBig) as info:
        Inflater(DeflateParams(), is_server=False).decompress(payload, True, len(message) - 1)
    assert info.value.code == 1009
    assert info.value.reason == f"decompressed message over {len(message) - 1} bytes"
    with pytest.raises(ValueError, match=r"^max_size must be >= 0$"):
        Inflater(DeflateParams(), is_server=False).decompress(payload, True, -1)
    with pytest.raises(PayloadTooBig):
        Inflater(DeflateParams(), is_server=False).decompress(payload, True, 0)


def test_size_limit_across_frames() -> None:
    # The caller passes what is left of the allowance for each frame.
    message = bytes(range(256)) * 64  # 16 KiB
    payload = Deflater(DeflateParams(), is_server=True).compress(message)
    half = len(payload) // 2
    inflater = Inflater(DeflateParams(), is_server=False)
    limit = len(message) - 1
    out = inflater.decompress(payload[:half], False, limit)
    assert len(out) <= limit
    with pytest.raises(PayloadTooBig):
        inflater.decompress(payload[half:], True, limit - len(out))


def zip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bytes(size)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


def test_zip_bomb_is_stopped_early_with_little_memory() -> None:
    bomb = zip_bomb(10 * 1024 * 1024)
    assert len(bomb) < 20_000
    max_size = 1024 * 1024
    inflater = Inflater(DeflateParams(), is_server=True)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig):
            inflater.decompress(bomb, True, max_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Output stops at the allowance plus one byte (zlib's growing buffer may
    # briefly hold it twice): far below the 10 MiB the bomb expands to, which
    # an unbounded inflate would hold about twice over.
    assert peak < 3 * max_size


def test_zip_bomb_output_contract() -> None:
    # Whatever the allowance, a frame never yields more than it without raising.
    bomb = zip_bomb(4 * 1024 * 1024)
    for max_size in [0, 1, 1000, 65536, 1024 * 1024]:
        inflater = Inflater(DeflateParams(), is_server=True)
        with pytest.raises(PayloadTooBig):
            inflater.decompress(bomb, True, max_size)
    inflater = Inflater(DeflateParams(), is_server=True)
    assert len(inflater.decompress(bomb, True, 4 * 1024 * 1024)) == 4 * 1024 * 1024


def test_zip_bomb_fed_frame_by_frame() -> None:
    bomb = zip_bomb(10 * 1024 * 1024)
    max_size = 1024 * 1024
    inflater = Inflater(DeflateParams(), is_server=True)
    received = 0
    frames = [bomb[i : i + 512] for i in range(0, len(bomb), 512)]
    with pytest.raises(PayloadTooBig):
        for index, frame in enumerate(frames):
            out = inflater.decompress(frame, index == len(frames) - 1, max_size - received)
            received += len(out)
            assert received <= max_size
    assert received <= max_size
