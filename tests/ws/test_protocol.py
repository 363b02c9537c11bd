"""Tests for ws.protocol.Connection: the sans-I/O state machine (RFC 6455 5-7), synchronous."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.deflate import DeflateParams, Deflater, Inflater
from ws.exceptions import PayloadTooBig, ProtocolError
from ws.frames import Frame, FrameParser, Opcode, apply_mask, frame_header, parse_close, serialize_close, serialize_frame
from ws.messages import CloseMessage, DataMessage, PingMessage, PongMessage, TextMessage
from ws.protocol import Connection, Side, State

FAST = settings(max_examples=200, deadline=None)


def server(**kwargs) -> Connection:
    return Connection(Side.SERVER, **kwargs)


def client(**kwargs) -> Connection:
    return Connection(Side.CLIENT, **kwargs)


def c2s(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A frame as a client sends it (masked)."""
    return serialize_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=True)


def s2c(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """A frame as a server sends it (unmasked)."""
    return serialize_frame(opcode, payload, fin=fin)


def sent_frames(conn: Connection, data: bytes | None = None) -> list[Frame]:
    """Parse what *conn* wrote (its queued replies when *data* is None)."""
    if data is None:
        data = b"".join(conn.data_to_send())
    return FrameParser(expect_mask=conn.side is Side.CLIENT, allow_rsv1=True).feed(data)


def only_close(conn: Connection) -> tuple[int, str]:
    frames = sent_frames(conn)
    assert [f.opcode for f in frames] == [Opcode.CLOSE]
    return parse_close(frames[0].payload)


def assert_fails(conn: Connection, data: bytes, code: int, reason: str | None = None) -> None:
    """Feeding *data* fails the connection with *code*: recorded, not raised, and a
    close frame with that code (and *reason*, when given) is queued (RFC 6455 7.1.7)."""
    conn.receive_data(data)
    assert isinstance(conn.failure, ProtocolError)
    assert conn.failure.code == code
    assert conn.state is State.CLOSING
    assert conn.close_code == code
    assert conn.close_sent is True
    sent_code, sent_reason = only_close(conn)
    assert sent_code == code
    if reason is not None:
        assert sent_reason == reason == conn.close_reason
    # Once failed, later bytes are ignored and nothing more is queued.
    assert conn.receive_data(c2s(Opcode.TEXT, b"late")) == []
    assert conn.data_to_send() == []


def events_of(conn: Connection, chunks: list[bytes]) -> list[tuple[type, object]]:
    out = []
    for chunk in chunks:
        out += [(type(m), bytes(m) if not isinstance(m, str) else str(m)) for m in conn.receive_data(chunk)]
    return out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    if not data:
        return [data]
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(marks, marks[1:])]


# -- messages ----------------------------------------------------------------------------


@st.composite
def message_stream(draw) -> tuple[bytes, list[tuple[type, object]]]:
    """Client bytes carrying whole messages, fragmented at random with pings in between,
    and the events a server must produce for them."""
    wire = b""
    expected: list[tuple[type, object]] = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            text = draw(st.text(max_size=60))
            data, opcode, kind, value = text.encode(), Opcode.TEXT, TextMessage, text
        else:
            data = draw(st.binary(max_size=60))
            opcode, kind, value = Opcode.BINARY, DataMessage, data
        # Cut the encoded payload anywhere, even inside a UTF-8 sequence.
        pieces = cut(data, draw(st.lists(st.integers(0, 100), max_size=3)))
        for i, piece in enumerate(pieces):
            wire += c2s(opcode if i == 0 else Opcode.CONT, piece, fin=i == len(pieces) - 1)
            if i < len(pieces) - 1 and draw(st.booleans()):
                ping = draw(st.binary(max_size=10))
                wire += c2s(Opcode.PING, ping)
                expected.append((PingMessage, ping))
        expected.append((kind, value))
    return wire, expected


@FAST
@given(message_stream(), st.lists(st.integers(0, 2000), max_size=10))
def test_messages_any_chunking(stream, points: list[int]) -> None:
    wire, expected = stream
    conn = server()
    assert events_of(conn, cut(wire, points)) == expected
    assert conn.failure is None and conn.state is State.OPEN


@FAST
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=8), st.sampled_from([Side.SERVER, Side.CLIENT]))
def test_arbitrary_bytes_never_raise_and_do_not_depend_on_chunking(data: bytes, points: list[int], side: Side) -> None:
    whole = Connection(side, max_message_size=100)
    chunked = Connection(side, max_message_size=100)
    events = events_of(whole, [data])  # never raises
    assert events_of(chunked, cut(data, points)) == events
    for conn in (whole, chunked):
        assert conn.failure is None or isinstance(conn.failure, ProtocolError)
        if conn.failure is not None:
            assert conn.state is State.CLOSING
            assert parse_close(sent_frames(conn)[-1].payload)[0] == conn.failure.code
    assert type(whole.failure) is type(chunked.failure)
    assert whole.close_code == chunked.close_code


@FAST
@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_arbitrary_masked_frames_never_raise(payload: bytes, head: bytes) -> None:
    # A plausible first byte and a masked header, so the fuzz reaches deeper states.
    conn = server(max_message_size=200)
    data = bytes([head[0] | 0x80 if head[1] & 1 else head[0]]) + frame_header(0, len(payload), mask=head)[1:] + apply_mask(payload, head)
    conn.receive_data(c2s(Opcode.TEXT, b"x", fin=False) if head[2] & 1 else b"")
    conn.receive_data(data)
    assert conn.failure is None or isinstance(conn.failure, ProtocolError)


def test_text_and_binary() -> None:
    conn = server()
    events = conn.receive_data(c2s(Opcode.TEXT, "café".encode()) + c2s(Opcode.BINARY, b"\x00\xff"))
    assert events == ["café", b"\x00\xff"]
    assert type(events[0]) is TextMessage and events[0].is_text
    assert type(events[1]) is DataMessage and events[1].is_data


def test_empty_messages() -> None:
    conn = server()
    assert conn.receive_data(c2s(Opcode.TEXT) + c2s(Opcode.BINARY)) == ["", b""]


def test_control_frames_inside_a_fragmented_message() -> None:
    conn = server()
    events = conn.receive_data(
        c2s(Opcode.TEXT, b"he", fin=False) + c2s(Opcode.PING, b"p") + c2s(Opcode.PONG, b"q") + c2s(Opcode.CONT, b"llo")
    )
    assert events == [b"p", b"q", "hello"]
    assert [type(e) for e in events] == [PingMessage, PongMessage, TextMessage]


# -- protocol violations -------------------------------------------------------------


@pytest.mark.parametrize("bits", [0x40, 0x20, 0x10])
def test_reserved_bits_1002(bits: int) -> None:
    frame = bytearray(c2s(Opcode.TEXT, b"x"))
    frame[0] |= bits
    assert_fails(server(), bytes(frame), 1002)


@pytest.mark.parametrize("opcode", [3, 7, 0xB, 0xF])
def test_reserved_opcodes_1002(opcode: int) -> None:
    assert_fails(server(), c2s(opcode, b""), 1002)


def test_fragmented_control_frame_1002() -> None:
    assert_fails(server(), c2s(Opcode.PING, b"x", fin=False), 1002)


def test_control_frame_over_125_bytes_1002() -> None:
    assert_fails(server(), c2s(Opcode.PING, b"x" * 126), 1002)


def test_unmasked_frame_at_server_1002() -> None:
    assert_fails(server(), s2c(Opcode.TEXT, b"hi"), 1002)


def test_masked_frame_at_client_1002() -> None:
    assert_fails(client(), c2s(Opcode.TEXT, b"hi"), 1002)


def test_continuation_without_start_1002() -> None:
    assert_fails(server(), c2s(Opcode.CONT, b"x"), 1002, "continuation frame without a message to continue")


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_new_data_frame_during_fragmented_message_1002(opcode: Opcode) -> None:
    assert_fails(
        server(),
        c2s(Opcode.TEXT, b"a", fin=False) + c2s(opcode, b"b"),
        1002,
        "new message started before the previous one finished",
    )


def test_close_payload_of_one_byte_1002() -> None:
    assert_fails(server(), c2s(Opcode.CLOSE, b"\x03"), 1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000])
def test_invalid_close_codes_1002(code: int) -> None:
    assert_fails(server(), c2s(Opcode.CLOSE, code.to_bytes(2, "big")), 1002)


@pytest.mark.parametrize("code", [1000, 1001, 1011, 3000, 4000, 4999])
def test_valid_close_codes_echoed(code: int) -> None:
    conn = server()
    events = conn.receive_data(c2s(Opcode.CLOSE, serialize_close(code, "bye")))
    assert events == [CloseMessage.build(code, "bye")]
    assert events[0].is_close and events[0].code == code and events[0].reason == "bye"
    assert conn.failure is None
    assert conn.state is State.CLOSED
    assert conn.close_code == code and conn.close_reason == "bye"
    # RFC 6455 5.5.1: the reply echoes the status code.
    assert only_close(conn)[0] == code


def test_empty_close_is_1005_and_echoed_empty() -> None:
    conn = server()
    [msg] = conn.receive_data(c2s(Opcode.CLOSE))
    assert msg.code == 1005
    assert sent_frames(conn) == [Frame(Opcode.CLOSE, b"")]
    assert conn.state is State.CLOSED


def test_invalid_utf8_text_1007() -> None:
    assert_fails(server(), c2s(Opcode.TEXT, b"\xff\xfe"), 1007, "text message is not valid UTF-8")


def test_invalid_utf8_split_across_fragments_1007() -> None:
    # Each half is a valid prefix alone; together the sequence is broken.
    conn = server()
    assert conn.receive_data(c2s(Opcode.TEXT, b"ok \xe2\x82", fin=False)) == []
    assert conn.failure is None
    assert_fails(conn, c2s(Opcode.CONT, b"\x28"), 1007, "text message is not valid UTF-8")


def test_invalid_utf8_fails_fast_before_the_message_ends() -> None:
    # RFC 6455 8.1: fail as soon as the bytes cannot be UTF-8, not at the final fragment.
    assert_fails(server(), c2s(Opcode.TEXT, b"\xc0\xaf", fin=False), 1007)


def test_truncated_utf8_at_the_end_of_a_message_1007() -> None:
    conn = server()
    conn.receive_data(c2s(Opcode.TEXT, b"\xe2\x82", fin=False))
    assert conn.failure is None
    assert_fails(conn, c2s(Opcode.CONT, b""), 1007)


def test_valid_utf8_split_across_fragments() -> None:
    data = "€𝄞é".encode()
    conn = server()
    events = []
    for i in range(len(data)):
        events += conn.receive_data(c2s(Opcode.TEXT if i == 0 else Opcode.CONT, data[i : i + 1], fin=i == len(data) - 1))
    assert events == ["€𝄞é"]
    assert conn.failure is None


def test_invalid_utf8_close_reason_1007() -> None:
    assert_fails(server(), c2s(Opcode.CLOSE, b"\x03\xe8\xff"), 1007)


def sized_server(compressed: bool, **limits) -> Connection:
    """A server with *limits*, with permessage-deflate negotiated or not.

    Compression changes which check meets an oversized frame: without it the
    frame limit defaults to the message limit, so the frame parser refuses the
    frame; with it the frame limit leaves a compressed frame some room, so an
    uncompressed frame just over the message limit reaches the message check.
    """
    if not compressed:
        return server(**limits)
    params = DeflateParams()
    return server(deflate=(Deflater(params, is_server=True), Inflater(params, is_server=True), 0), **limits)


COMPRESSION = pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])


@COMPRESSION
def test_message_over_max_message_size_single_frame_1009(compressed: bool) -> None:
    conn = sized_server(compressed, max_message_size=100)
    assert conn.receive_data(c2s(Opcode.BINARY, b"x" * 100)) == [b"x" * 100]
    assert_fails(conn, c2s(Opcode.BINARY, b"x" * 101), 1009)


@COMPRESSION
def test_text_over_max_message_size_1009(compressed: bool) -> None:
    assert_fails(sized_server(compressed, max_message_size=10), c2s(Opcode.TEXT, b"x" * 11), 1009)


@COMPRESSION
@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT], ids=["binary", "text"])
def test_one_frame_over_max_message_size_under_max_frame_size_1009(compressed: bool, opcode: Opcode) -> None:
    # The frame passes the frame limit: only the message check of a complete
    # single frame stands between it and the application.
    conn = sized_server(compressed, max_message_size=100, max_frame_size=1000)
    assert conn.receive_data(c2s(opcode, b"x" * 100)) == [b"x" * 100 if opcode is Opcode.BINARY else "x" * 100]
    assert_fails(conn, c2s(opcode, b"x" * 101), 1009)
    assert isinstance(conn.failure, PayloadTooBig)


@COMPRESSION
def test_message_over_max_message_size_fragmented_1009(compressed: bool) -> None:
    conn = sized_server(compressed, max_message_size=100)
    conn.receive_data(c2s(Opcode.BINARY, b"x" * 60, fin=False))
    assert conn.failure is None
    assert_fails(conn, c2s(Opcode.CONT, b"x" * 41, fin=False), 1009, "message exceeds 100 bytes")


@COMPRESSION
def test_fragmented_message_of_exactly_max_message_size(compressed: bool) -> None:
    """The limit is inclusive and counts each message from zero (RFC 6455 10.4)."""
    conn = sized_server(compressed, max_message_size=100)
    for _ in range(2):
        wire = c2s(Opcode.BINARY, b"x" * 60, fin=False) + c2s(Opcode.CONT, b"y" * 40)
        assert conn.receive_data(wire) == [b"x" * 60 + b"y" * 40]
    assert conn.failure is None


def test_compressed_fragments_inflate_within_what_is_left_of_the_limit() -> None:
    """A compressed fragment is inflated only up to what the message may still grow
    by: a bomb in the second fragment is stopped at the 40 bytes left after 60."""
    import zlib

    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = compressor.compress(b"a" * 60) + compressor.flush(zlib.Z_SYNC_FLUSH)
    bomb = compressor.compress(bytes(100_000)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    conn = sized_server(True, max_message_size=100)
    conn.receive_data(c2s(Opcode.BINARY, first, fin=False, rsv1=True))
    assert conn.failure is None
    assert_fails(conn, c2s(Opcode.CONT, bomb[:-4]), 1009, "decompressed message over 40 bytes")


def test_compressed_fragments_without_a_limit() -> None:
    srv, cli = deflate_pair(max_message_size=None)
    big = bytes(300_000)
    assert srv.receive_data(cli.send_fragments(Opcode.BINARY, [big, big])) == [big + big]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])
def test_default_frame_limit(compressed: bool) -> None:
    """max_frame_size defaults to the message limit; with permessage-deflate it leaves
    a compressed frame room for its overhead (1/64 and 1 KiB over the limit). A frame
    over it is refused from its header alone."""
    limit = 64 * 1024 + (64 * 1024 // 64 + 1024 if compressed else 0)
    head = frame_header(Opcode.BINARY, limit, rsv1=compressed, mask=b"abcd")
    conn = sized_server(compressed, max_message_size=64 * 1024)
    assert conn.receive_data(head) == [] and conn.failure is None
    head = frame_header(Opcode.BINARY, limit + 1, rsv1=compressed, mask=b"abcd")
    assert_fails(sized_server(compressed, max_message_size=64 * 1024), head, 1009, f"frame of {limit + 1} bytes exceeds the limit of {limit}")


def test_an_incompressible_message_of_the_limit_fits_one_compressed_frame() -> None:
    import random

    message = random.Random(1).randbytes(64 * 1024)
    srv, cli = deflate_pair(max_message_size=64 * 1024)
    assert srv.receive_data(cli.send_data(message)) == [message]


@COMPRESSION
def test_frame_over_max_frame_size_1009(compressed: bool) -> None:
    conn = sized_server(compressed, max_message_size=1000, max_frame_size=10)
    assert conn.receive_data(c2s(Opcode.BINARY, b"a" * 10, fin=False) + c2s(Opcode.CONT, b"b" * 10)) == [b"a" * 10 + b"b" * 10]
    # Refused from the header alone: the payload never needs to arrive.
    assert_fails(conn, c2s(Opcode.BINARY, b"x" * 11)[:8], 1009)


def test_no_limits() -> None:
    conn = server(max_message_size=None)
    assert conn.receive_data(c2s(Opcode.BINARY, b"x" * 200_000)) == [b"x" * 200_000]


def test_messages_before_a_fault_are_delivered() -> None:
    conn = server()
    events = conn.receive_data(c2s(Opcode.TEXT, b"first") + c2s(Opcode.TEXT, b"\xff") + c2s(Opcode.TEXT, b"after"))
    assert events == ["first"]
    assert conn.failure.code == 1007
    conn = server()
    events = conn.receive_data(c2s(Opcode.TEXT, b"first") + c2s(3, b""))
    assert events == ["first"]
    assert conn.failure.code == 1002


# -- permessage-deflate ------------------------------------------------------------------


def deflate_pair(**kwargs) -> tuple[Connection, Connection]:
    params = DeflateParams()
    srv = server(deflate=(Deflater(params, is_server=True), Inflater(params, is_server=True), 0), **kwargs)
    cli = client(deflate=(Deflater(params, is_server=False), Inflater(params, is_server=False), 0), **kwargs)
    return srv, cli


def test_deflate_round_trip_both_ways() -> None:
    srv, cli = deflate_pair()
    for text in ["hello " * 50, "", "x"]:
        wire = cli.send_text(text)
        assert sent_frames(cli, wire)[0].rsv1
        assert srv.receive_data(wire) == [text]
        assert cli.receive_data(srv.send_data(text.encode())) == [text.encode()]
    wire = cli.send_fragments(Opcode.BINARY, [b"ab" * 100, b"cd" * 100, b"ef"])
    assert srv.receive_data(wire) == [b"ab" * 100 + b"cd" * 100 + b"ef"]


def test_deflate_bomb_1009() -> None:
    srv, cli = deflate_pair(max_message_size=1000)
    cli.max_message_size = None
    assert_fails(srv, cli.send_data(bytes(100_000)), 1009)


def test_deflate_huge_frame_header_refused_at_once() -> None:
    # A compressed frame announcing far more bytes than any message we accept
    # must not be buffered until it completes.
    srv, _ = deflate_pair(max_message_size=1000)
    assert_fails(srv, frame_header(Opcode.BINARY, 2**40, rsv1=True, mask=b"abcd"), 1009)


def test_deflate_explicit_max_frame_size() -> None:
    srv, _ = deflate_pair(max_message_size=1000, max_frame_size=10)
    assert_fails(srv, c2s(Opcode.BINARY, b"x" * 11), 1009)


def test_rsv1_without_deflate_1002() -> None:
    assert_fails(server(), c2s(Opcode.BINARY, b"x", rsv1=True), 1002)


def test_rsv1_on_continuation_1002() -> None:
    srv, cli = deflate_pair()
    wire = c2s(Opcode.BINARY, b"x", fin=False) + c2s(Opcode.CONT, b"y", rsv1=True)
    assert_fails(srv, wire, 1002, "RSV1 set on a continuation frame")


def test_a_server_with_deflate_compresses_what_it_sends() -> None:
    """RFC 7692 6: once negotiated, messages at or over the threshold go compressed
    (RSV1 set), from the server as from the client."""
    srv, cli = deflate_pair()
    for message in ("hello " * 50, b"data " * 50):
        wire = srv.send_text(message) if isinstance(message, str) else srv.send_data(message)
        (frame,) = sent_frames(srv, wire)
        assert frame.rsv1 and len(frame.payload) < 250
        assert cli.receive_data(wire) == [message]


# -- control frames and the closing handshake -----------------------------------------


def test_ping_gets_pong_with_same_payload() -> None:
    conn = server()
    assert conn.receive_data(c2s(Opcode.PING, b"are you there")) == [b"are you there"]
    assert sent_frames(conn) == [Frame(Opcode.PONG, b"are you there")]


def test_pings_answered_in_order() -> None:
    conn = client()
    conn.receive_data(s2c(Opcode.PING, b"1") + s2c(Opcode.PING, b"") + s2c(Opcode.PING, b"3" * 125))
    assert sent_frames(conn) == [Frame(Opcode.PONG, b"1"), Frame(Opcode.PONG, b""), Frame(Opcode.PONG, b"3" * 125)]


def test_pong_is_not_answered() -> None:
    conn = server()
    assert conn.receive_data(c2s(Opcode.PONG, b"x")) == [b"x"]
    assert conn.data_to_send() == []


def test_we_close_first() -> None:
    conn = server()
    wire = conn.send_close(1000, "done")
    assert sent_frames(conn, wire) == [Frame(Opcode.CLOSE, serialize_close(1000, "done"))]
    assert conn.state is State.CLOSING and conn.close_sent
    assert conn.send_close() == b""  # already closing
    with pytest.raises(RuntimeError, match=r"^cannot send on a closing connection$"):
        conn.send_text("too late")
    # Data still arriving before the peer's close is delivered.
    assert conn.receive_data(c2s(Opcode.TEXT, b"in flight")) == ["in flight"]
    [msg] = conn.receive_data(c2s(Opcode.CLOSE, serialize_close(1000)))
    assert msg.is_close and msg.code == 1000
    assert conn.state is State.CLOSED
    assert conn.data_to_send() == []  # no second close frame
    assert conn.close_code == 1000


def test_a_fresh_connection_has_not_closed() -> None:
    for conn in (server(), client()):
        assert conn.state is State.OPEN
        assert (conn.close_code, conn.close_reason, conn.close_sent) == (None, "", False)
        assert conn.close_received is None and conn.failure is None


def test_peer_closes_first() -> None:
    conn = client()
    [msg] = conn.receive_data(s2c(Opcode.CLOSE, serialize_close(4002, "x")))
    assert (msg.code, msg.reason) == (4002, "x")
    assert conn.state is State.CLOSED
    assert conn.close_sent is True  # the reply (RFC 6455 5.5.1)
    assert (conn.close_code, conn.close_reason) == (4002, "x")
    assert only_close(conn)[0] == 4002
    assert conn.receive_data(s2c(Opcode.TEXT, b"after close")) == []
    with pytest.raises(RuntimeError):
        conn.send_data(b"x")


def test_send_close_refuses_invalid_codes() -> None:
    with pytest.raises(ValueError, match=r"^invalid close code 1006$"):
        server().send_close(1006)
    with pytest.raises(ValueError):
        server().send_close(999)


def test_send_close_defaults_to_1000_without_a_reason() -> None:
    conn = server()
    assert sent_frames(conn, conn.send_close()) == [Frame(Opcode.CLOSE, b"\x03\xe8")]
    assert (conn.close_code, conn.close_reason) == (1000, "")


def test_receive_eof_is_1006() -> None:
    conn = server()
    conn.receive_data(c2s(Opcode.TEXT, b"partial", fin=False))
    conn.receive_eof()
    assert conn.state is State.CLOSED
    assert (conn.close_code, conn.close_reason) == (1006, "connection lost")


def test_receive_eof_after_we_closed_is_1006() -> None:
    conn = server()
    conn.send_close(1000)
    conn.receive_eof()
    assert conn.state is State.CLOSED and conn.close_code == 1006


def test_receive_eof_after_handshake_keeps_the_code() -> None:
    conn = server()
    conn.receive_data(c2s(Opcode.CLOSE, serialize_close(1001)))
    conn.receive_eof()
    assert conn.close_code == 1001


def test_receive_eof_after_failure_keeps_the_code() -> None:
    conn = server()
    conn.receive_data(c2s(Opcode.TEXT, b"\xff"))
    conn.receive_eof()
    assert conn.close_code == 1007


# -- masking -----------------------------------------------------------------------------


def test_client_masks_every_frame() -> None:
    conn = client()
    payload = b"a non-trivial payload, long enough to notice" * 3
    wires = [
        conn.send_text(payload.decode()),
        conn.send_data(payload),
        conn.send_fragments(Opcode.BINARY, [payload, payload]),
        conn.send_ping(b"ping"),
        conn.send_pong(b"pong"),
    ]
    conn.receive_data(s2c(Opcode.PING, b"auto"))
    wires += conn.data_to_send()
    wires.append(conn.send_close(1000, "bye"))
    for wire in wires:
        parser = FrameParser(expect_mask=True)  # raises if any frame is unmasked
        frames = parser.feed(wire)
        assert frames and parser.buffered == 0
        assert wire[1] & 0x80
    assert payload not in wires[0] and payload not in wires[1] and payload not in wires[2]


def test_server_never_masks() -> None:
    conn = server()
    wire = conn.send_text("hello") + conn.send_data(b"x") + conn.send_ping() + conn.send_close()
    assert len(FrameParser(expect_mask=False).feed(wire)) == 4


def test_fresh_mask_per_frame() -> None:
    conn = client()
    masks = {conn.send_data(b"same payload")[2:6] for _ in range(20)}
    assert len(masks) > 1


def test_send_ping_over_125_bytes() -> None:
    with pytest.raises(ValueError, match=r"^ping payload must be 125 bytes or fewer$"):
        client().send_ping(b"x" * 126)
    with pytest.raises(ValueError, match=r"^pong payload must be 125 bytes or fewer$"):
        client().send_pong(b"x" * 126)


def test_control_frames_of_125_bytes_and_empty_by_default() -> None:
    """RFC 6455 5.5: up to 125 bytes of payload; without one, an empty ping or pong."""
    conn = server()
    wire = conn.send_ping(b"p" * 125) + conn.send_pong(b"q" * 125) + conn.send_ping() + conn.send_pong()
    assert sent_frames(conn, wire) == [
        Frame(Opcode.PING, b"p" * 125),
        Frame(Opcode.PONG, b"q" * 125),
        Frame(Opcode.PING, b""),
        Frame(Opcode.PONG, b""),
    ]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_server_messages_of_every_length_encoding(size: int, kind: type) -> None:
    """RFC 6455 5.2: 7-bit, 16-bit and 64-bit lengths, from any bytes-like payload."""
    conn, peer = server(), client()
    if kind is str:
        message: object = "é" * (size // 2) + "x" * (size % 2)
        wire = conn.send_text(message)  # type: ignore[arg-type]
    else:
        message = bytes([size & 0xFF]) * size
        wire = conn.send_data(kind(message))  # type: ignore[operator]
    assert peer.receive_data(wire) == [message]


def test_send_parts_takes_the_message_as_it_was_when_called() -> None:
    data = bytearray(b"before")
    for conn in (server(), client()):
        header, payload = conn.send_parts(data if conn.side is Side.SERVER else memoryview(data))
        assert type(payload) is bytes
    header, payload = server().send_parts(data)
    data[:] = b"after!"
    assert client().receive_data(header + payload) == [b"before"]


@pytest.mark.parametrize("side", [Side.SERVER, Side.CLIENT])
def test_send_fragments_frames(side: Side) -> None:
    """RFC 6455 5.4: the first frame carries the opcode, the others are continuations,
    only the last has FIN; no pieces is one empty frame."""
    conn = Connection(side)
    assert sent_frames(conn, conn.send_fragments(Opcode.TEXT, [b"a", b"b", b"c"])) == [
        Frame(Opcode.TEXT, b"a", False),
        Frame(Opcode.CONT, b"b", False),
        Frame(Opcode.CONT, b"c", True),
    ]
    assert sent_frames(conn, conn.send_fragments(Opcode.BINARY, [b"only"])) == [Frame(Opcode.BINARY, b"only", True)]
    assert sent_frames(conn, conn.send_fragments(Opcode.BINARY, [])) == [Frame(Opcode.BINARY, b"", True)]


def test_compressed_fragments_keep_the_count_and_the_threshold() -> None:
    """A compressed message is cut into as many frames as pieces (one per byte of
    compressed data when there are fewer), RSV1 on the first only (RFC 7692 6.1);
    a message of exactly the threshold is compressed."""
    params = DeflateParams()
    srv = server(deflate=(Deflater(params, is_server=True), Inflater(params, is_server=True), 5))
    frames = sent_frames(srv, srv.send_fragments(Opcode.BINARY, [b"ab", b"cde"]))
    assert [f.rsv1 for f in frames] == [True, False]
    frames = sent_frames(srv, srv.send_fragments(Opcode.BINARY, [b"abcd"]))
    assert [f.rsv1 for f in frames] == [False]
    for count in (3, 12, 40):
        frames = sent_frames(srv, srv.send_fragments(Opcode.TEXT, [b"hello"] * count))
        compressed = b"".join(f.payload for f in frames)
        assert len(frames) == min(count, len(compressed))
        assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
        assert all(f.payload for f in frames)


@FAST
@given(st.lists(st.one_of(st.text(max_size=50), st.binary(max_size=50)), max_size=6))
def test_client_to_server_round_trip(messages: list) -> None:
    cli, srv = client(), server()
    wire = b"".join(cli.send_text(m) if isinstance(m, str) else cli.send_data(m) for m in messages)
    assert srv.receive_data(wire) == messages
    back = b"".join(srv.send_text(m) if isinstance(m, str) else srv.send_data(m) for m in messages)
    assert cli.receive_data(back) == messages


# -- a message as header and payload -----------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("message", ["héllo ♟" * 1000, b"\x00\xff" * 3000, "", b""], ids=["text", "binary", "empty-text", "empty-binary"])
def test_send_parts_is_the_same_message_as_send_text_or_data(message, compressed) -> None:
    """Header and payload written one after the other are one frame, which the peer
    reads as the message, both ways (the client's masked, the server's not)."""
    srv, cli = deflate_pair() if compressed else (server(), client())
    kind = TextMessage if isinstance(message, str) else DataMessage
    for sender, receiver in ((cli, srv), (srv, cli)):
        header, payload = sender.send_parts(message)
        assert len(header) in (2, 4, 10, 6, 8, 14)
        (event,) = receiver.receive_data(header + payload)
        assert type(event) is kind and event == message
        assert sent_frames(sender, header + payload)[0].rsv1 is compressed  # (threshold 0 here)


def test_send_parts_on_a_closing_connection_raises() -> None:
    conn = server()
    conn.send_close()
    with pytest.raises(RuntimeError):
        conn.send_parts("late")
