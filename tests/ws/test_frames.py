"""Tests for ws.frames: the RFC 6455 section 5 frame layer, sans-I/O and synchronous."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.exceptions import InvalidPayload, PayloadTooBig, ProtocolError
from ws.frames import (
    Frame,
    FrameParser,
    Opcode,
    apply_mask,
    apply_mask_py,
    check_close_code,
    frame_header,
    parse_close,
    serialize_close,
    serialize_frame,
)

FAST = settings(max_examples=200, deadline=None)

DATA_OPCODES = [Opcode.CONT, Opcode.TEXT, Opcode.BINARY]
CONTROL_OPCODES = [Opcode.CLOSE, Opcode.PING, Opcode.PONG]


@st.composite
def frames(draw) -> Frame:
    """Any frame the parser accepts on its own (message-level rules are not its job)."""
    opcode = draw(st.sampled_from(DATA_OPCODES + CONTROL_OPCODES))
    if opcode.is_control:
        return Frame(opcode, draw(st.binary(max_size=125)), True, False)
    # Sizes around the 7-bit / 16-bit / 64-bit length encodings.
    size = draw(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536]) | st.integers(0, 300))
    payload = draw(st.binary(min_size=size, max_size=size)) if size < 300 else bytes([size & 0xFF]) * size
    return Frame(opcode, payload, draw(st.booleans()), False)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """*data* cut at *points* (positions are taken modulo its length)."""
    if not data:
        return [data]
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(marks, marks[1:])]


def parse_chunks(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out


# -- round trips ---------------------------------------------------------------------


@FAST
@given(st.lists(frames(), max_size=8), st.booleans(), st.lists(st.integers(0, 2**20), max_size=12))
def test_round_trip_any_chunking(sent: list[Frame], masked: bool, points: list[int]) -> None:
    wire = b"".join(serialize_frame(f.opcode, f.payload, fin=f.fin, mask=masked) for f in sent)
    whole = FrameParser(expect_mask=masked).feed(wire)
    assert whole == sent
    parser = FrameParser(expect_mask=masked)
    assert parse_chunks(parser, cut(wire, points)) == sent
    assert parser.buffered == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=4))
def test_round_trip_byte_by_byte(sent: list[Frame]) -> None:
    wire = b"".join(serialize_frame(f.opcode, f.payload, fin=f.fin, mask=True) for f in sent)
    if len(wire) > 1500:
        wire = wire[:1500]
        sent = FrameParser(expect_mask=True).feed(wire)
    parser = FrameParser(expect_mask=True)
    got: list[Frame] = []
    for i in range(len(wire)):
        got += parser.feed(wire[i : i + 1])
    assert got == sent


@FAST
@given(st.binary(max_size=200), st.booleans(), st.booleans())
def test_rsv1_round_trip_when_allowed(payload: bytes, fin: bool, masked: bool) -> None:
    wire = serialize_frame(Opcode.BINARY, payload, fin=fin, rsv1=True, mask=masked)
    assert FrameParser(expect_mask=masked, allow_rsv1=True).feed(wire) == [Frame(Opcode.BINARY, payload, fin, True)]


@pytest.mark.parametrize(
    ("length", "header_size"),
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)],
)
def test_length_encodings(length: int, header_size: int) -> None:
    assert len(frame_header(Opcode.BINARY, length)) == header_size
    assert len(frame_header(Opcode.BINARY, length, mask=b"abcd")) == header_size + 4


def test_frame_header_makes_a_final_frame_by_default() -> None:
    """RFC 6455 5.2: FIN set unless the caller asks for a fragment."""
    parser = FrameParser(expect_mask=False)
    assert parser.feed(frame_header(Opcode.TEXT, 2) + b"hi") == [Frame(Opcode.TEXT, b"hi", True, False)]
    assert parser.feed(frame_header(Opcode.TEXT, 2, fin=False) + b"hi") == [Frame(Opcode.TEXT, b"hi", False, False)]


def test_serialize_frame_mask_true_draws_a_mask() -> None:
    payload = b"hello, world" * 4
    wire = serialize_frame(Opcode.TEXT, payload, mask=True)
    assert wire[1] & 0x80
    assert wire[6:] != payload
    assert FrameParser(expect_mask=True).feed(wire) == [Frame(Opcode.TEXT, payload)]


def test_several_frames_in_one_feed() -> None:
    wire = serialize_frame(Opcode.TEXT, b"a") + serialize_frame(Opcode.PING, b"b") + serialize_frame(Opcode.BINARY, b"c")[:2]
    parser = FrameParser(expect_mask=False)
    assert parser.feed(wire) == [Frame(Opcode.TEXT, b"a"), Frame(Opcode.PING, b"b")]
    assert parser.buffered == 2
    assert parser.feed(b"c") == [Frame(Opcode.BINARY, b"c")]


# -- arbitrary input -----------------------------------------------------------------


@FAST
@given(st.binary(max_size=400), st.booleans(), st.booleans(), st.lists(st.integers(0, 1000), max_size=6))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, masked: bool, rsv1: bool, points: list[int]) -> None:
    parser = FrameParser(expect_mask=masked, allow_rsv1=rsv1, max_frame_size=1000)
    try:
        for chunk in cut(data, points):
            for frame in parser.feed(chunk):
                assert isinstance(frame.opcode, Opcode)
                assert isinstance(frame.payload, bytes)
    except ProtocolError:
        pass


# -- masking ---------------------------------------------------------------------------


def naive_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


# The pure Python version and whatever ``apply_mask`` is (the C speedup when built).
MASKERS = pytest.mark.parametrize("mask_fn", [apply_mask_py, apply_mask], ids=["python", "default"])


@MASKERS
@FAST
@given(data=st.binary(max_size=1000), mask=st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_reference_and_is_an_involution(mask_fn, data: bytes, mask: bytes) -> None:
    masked = mask_fn(data, mask)
    assert type(masked) is bytes
    assert masked == naive_mask(data, mask)
    assert mask_fn(masked, mask) == data
    assert mask_fn(bytearray(data), mask) == masked
    assert mask_fn(memoryview(data), mask) == masked


@MASKERS
def test_apply_mask_keeps_leading_zero_bytes(mask_fn) -> None:
    # Big-integer XOR must not drop bytes that come out as zero.
    assert mask_fn(b"abcdabcdab", b"abcd") == bytes(10)
    assert mask_fn(b"", b"abcd") == b""


@MASKERS
def test_apply_mask_on_a_memoryview_slice(mask_fn) -> None:
    data = bytes(range(256)) * 10
    view = memoryview(data)[3:1003]
    assert mask_fn(view, b"\x01\x02\x03\x04") == naive_mask(data[3:1003], b"\x01\x02\x03\x04")


# -- RFC 6455 violations at the frame level -----------------------------------------


def raw(b0: int, payload: bytes = b"", *, mask: bytes | None = None, length: int | None = None) -> bytes:
    """A frame with a hand-made first byte (and optionally a lying length)."""
    n = len(payload) if length is None else length
    head = frame_header(0, n, mask=mask)
    body = apply_mask(payload, mask) if mask is not None else payload
    return bytes([b0]) + head[1:] + body


@pytest.mark.parametrize("bits", [0x40, 0x20, 0x10, 0x70])
def test_reserved_bits(bits: int) -> None:
    with pytest.raises(ProtocolError) as info:
        FrameParser(expect_mask=False).feed(raw(0x80 | bits | Opcode.TEXT, b"x"))
    assert type(info.value) is ProtocolError and info.value.code == 1002


@pytest.mark.parametrize("bits", [0x20, 0x10])
def test_rsv2_rsv3_refused_even_with_deflate(bits: int) -> None:
    with pytest.raises(ProtocolError):
        FrameParser(expect_mask=False, allow_rsv1=True).feed(raw(0x80 | bits | Opcode.TEXT, b"x"))


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes(opcode: int) -> None:
    with pytest.raises(ProtocolError) as info:
        FrameParser(expect_mask=False).feed(raw(0x80 | opcode, b""))
    assert info.value.code == 1002


@pytest.mark.parametrize("opcode", CONTROL_OPCODES)
def test_fragmented_control_frame(opcode: Opcode) -> None:
    with pytest.raises(ProtocolError, match="fragmented"):
        FrameParser(expect_mask=False).feed(raw(opcode, b""))


@pytest.mark.parametrize("opcode", CONTROL_OPCODES)
def test_control_frame_over_125_bytes(opcode: Opcode) -> None:
    # Refused from the header alone, before the payload arrives.
    with pytest.raises(ProtocolError, match="too long"):
        FrameParser(expect_mask=False).feed(raw(0x80 | opcode, length=126)[:4])
    assert FrameParser(expect_mask=False).feed(raw(0x80 | opcode, b"x" * 125)) == [Frame(opcode, b"x" * 125)]


def test_compressed_control_frame() -> None:
    with pytest.raises(ProtocolError):
        FrameParser(expect_mask=False, allow_rsv1=True).feed(raw(0x80 | 0x40 | Opcode.PING, b""))


def test_unmasked_frame_at_server() -> None:
    with pytest.raises(ProtocolError, match="masking"):
        FrameParser(expect_mask=True).feed(serialize_frame(Opcode.TEXT, b"hi"))


def test_masked_frame_at_client() -> None:
    with pytest.raises(ProtocolError, match="masking"):
        FrameParser(expect_mask=False).feed(serialize_frame(Opcode.TEXT, b"hi", mask=True))


def test_length_with_high_bit() -> None:
    with pytest.raises(ProtocolError):
        FrameParser(expect_mask=False).feed(bytes([0x82, 127]) + (2**63).to_bytes(8, "big"))


@pytest.mark.parametrize("size", [101, 126, 70000])
def test_frame_over_max_frame_size_refused_from_the_header(size: int) -> None:
    header = frame_header(Opcode.BINARY, size)
    with pytest.raises(PayloadTooBig) as info:
        FrameParser(expect_mask=False, max_frame_size=100).feed(header)
    assert info.value.code == 1009
    assert FrameParser(expect_mask=False, max_frame_size=100).feed(serialize_frame(Opcode.BINARY, b"x" * 100))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("size", [1000, 2**62])
def test_frame_size_limit_judges_the_whole_announced_length(size: int, masked: bool) -> None:
    """The limit is checked against the 16- or 64-bit length once it has all arrived
    (RFC 6455 5.2): a header fed byte by byte is refused exactly as a whole one,
    with the announced size in the reason, never on a part of its length."""
    header = frame_header(Opcode.BINARY, size, mask=b"mask" if masked else None)
    expected = f"frame of {size} bytes exceeds the limit of 2"
    with pytest.raises(PayloadTooBig) as whole:
        FrameParser(expect_mask=masked, max_frame_size=2).feed(header)
    assert whole.value.reason == expected
    parser = FrameParser(expect_mask=masked, max_frame_size=2)
    length_end = 4 if size < 65536 else 10
    for i in range(length_end - 1):
        assert parser.feed(header[i : i + 1]) == []
    with pytest.raises(PayloadTooBig) as byte_by_byte:
        parser.feed(header[length_end - 1 : length_end])
    assert byte_by_byte.value.reason == expected


def test_frames_before_a_fault_are_not_lost() -> None:
    """A fault after complete frames: the frames come out first, then the error,
    whatever the chunking."""
    good = serialize_frame(Opcode.TEXT, b"one") + serialize_frame(Opcode.BINARY, b"two")
    wire = good + raw(0x80 | 3, b"")
    for chunks in ([wire], [good[:5], good[5:] + wire[len(good) :]]):
        parser = FrameParser(expect_mask=False)
        got: list[Frame] = []
        with pytest.raises(ProtocolError):
            for chunk in chunks + [b""]:
                got += parser.feed(chunk)
        assert got == [Frame(Opcode.TEXT, b"one"), Frame(Opcode.BINARY, b"two")]


# -- close payloads --------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert check_close_code(code)
    assert parse_close(serialize_close(code, "bye")) == (code, "bye")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_invalid_close_codes(code: int) -> None:
    assert not check_close_code(code)
    with pytest.raises(ProtocolError) as info:
        parse_close(code.to_bytes(2, "big"))
    assert info.value.code == 1002


def test_close_payload_of_one_byte() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_close(b"\x03")
    assert info.value.code == 1002


@pytest.mark.parametrize(
    ("payload", "error", "reason"),
    [
        (b"\x03", ProtocolError, "close frame with a 1-byte payload"),
        (b"\x03\xe7", ProtocolError, "invalid close code 999"),
        (b"\x03\xe8\xff\xfe", InvalidPayload, "close reason is not valid UTF-8"),
    ],
)
def test_a_bad_close_payload_is_refused_with_a_reason(payload: bytes, error: type, reason: str) -> None:
    """The reason is what the peer reads in the close frame that fails the
    connection (RFC 6455 7.1.7; ws.protocol sends the error's reason)."""
    with pytest.raises(error) as info:
        parse_close(payload)
    assert info.value.reason == reason


def test_serialize_close_without_a_reason_is_the_code_alone() -> None:
    assert serialize_close(1000) == b"\x03\xe8"
    assert parse_close(serialize_close(4000)) == (4000, "")


def test_close_reason_fills_the_125_byte_limit_exactly() -> None:
    """RFC 6455 5.5: 2 bytes of code and at most 123 of reason; a longer reason is cut
    to 123 bytes, and never inside a UTF-8 character."""
    assert serialize_close(1000, "a" * 123) == b"\x03\xe8" + b"a" * 123
    assert serialize_close(1000, "a" * 124) == b"\x03\xe8" + b"a" * 123
    assert serialize_close(1000, "a" * 122 + "\u00e9") == b"\x03\xe8" + b"a" * 122


def test_empty_close_payload_is_1005() -> None:
    assert parse_close(b"") == (1005, "")
    assert serialize_close(1005) == b""


def test_close_reason_invalid_utf8() -> None:
    with pytest.raises(InvalidPayload) as info:
        parse_close(b"\x03\xe8\xff\xfe")
    assert info.value.code == 1007


@FAST
@given(st.sampled_from([1000, 1001, 3000, 4999]), st.text(max_size=200))
def test_close_reason_cut_to_fit(code: int, reason: str) -> None:
    payload = serialize_close(code, reason)
    assert len(payload) <= 125
    got_code, got_reason = parse_close(payload)
    assert got_code == code
    assert reason.startswith(got_reason)
