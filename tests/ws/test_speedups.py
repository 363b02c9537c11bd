"""The optional C speedups give the same results as the pure-Python reference:
the same bytes from masking, the same frames, offsets and faults from splitting."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import scaled
from ws import frames
from ws.frames import Frame, Opcode, serialize_frame
from ws.messages import DataMessage

try:
    from ws import _speedups
except ImportError:  # no compiler on this machine: the pure-Python path is the default
    _speedups = None

IMPLEMENTATIONS = [frames.apply_mask_py] + ([_speedups.apply_mask] if _speedups else [])


def naive(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS, ids=lambda f: f.__module__)
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000), mask=st.binary(min_size=4, max_size=4))
def test_matches_naive_xor(apply_mask, data, mask):
    assert apply_mask(data, mask) == naive(data, mask)
    assert apply_mask(memoryview(bytearray(data)), mask) == naive(data, mask)


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS, ids=lambda f: f.__module__)
@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 65536, 65539])
def test_large_and_unaligned(apply_mask, size):
    data = os.urandom(size + 3)
    mask = os.urandom(4)
    view = memoryview(data)[3:]  # unaligned start
    assert apply_mask(view, mask) == frames.apply_mask_py(bytes(view), mask)


def test_module_uses_a_valid_implementation():
    assert frames.apply_mask in IMPLEMENTATIONS


@pytest.mark.skipif(_speedups is None, reason="the C speedup was not compiled on this machine")
def test_c_speedup_rejects_a_bad_mask():
    with pytest.raises(ValueError):
        _speedups.apply_mask(b"abc", b"12")


# -- splitting a buffer into frames ------------------------------------------------------

needs_c = pytest.mark.skipif(_speedups is None, reason="the C speedup was not compiled on this machine")


@st.composite
def wire(draw) -> bytes:
    """Well-formed frames of either masking, then possibly garbage or a cut."""
    masked = draw(st.booleans())
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        opcode = draw(st.sampled_from(list(Opcode)))
        size = draw(st.sampled_from([0, 1, 125, 126, 65535, 65536]) | st.integers(0, 200))
        out += serialize_frame(
            opcode, bytes([size & 0xFF]) * size, fin=draw(st.booleans()), rsv1=draw(st.booleans()), mask=masked
        )
    out += draw(st.binary(max_size=40))
    return out[: draw(st.integers(0, len(out)))]


def outcome(split, data, expect_mask, rsv1_ok, limit):
    found, consumed, error = split(data, expect_mask, rsv1_ok, limit)
    for frame in found:
        assert type(frame) is Frame and type(frame.opcode) is Opcode
        # The C version builds a whole uncompressed binary message as a DataMessage.
        whole_binary = frame.opcode is Opcode.BINARY and frame.fin and not frame.rsv1
        built_in_c = split is not frames.split_frames_py
        assert type(frame.payload) is (DataMessage if whole_binary and built_in_c else bytes)
    return found, consumed, (type(error), str(error), getattr(error, "code", None))


@needs_c
@settings(max_examples=500, deadline=None)
@given(
    data=wire() | st.binary(max_size=300),
    expect_mask=st.booleans(),
    rsv1_ok=st.booleans(),
    limit=st.none() | st.integers(-2, 70000) | st.sampled_from([2**70, -(2**70)]),
    kind=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_c_split_matches_python(data, expect_mask, rsv1_ok, limit, kind):
    data = kind(data) if kind is not memoryview else memoryview(bytearray(data))
    assert outcome(_speedups.split_frames, data, expect_mask, rsv1_ok, limit) == outcome(
        frames.split_frames_py, data, expect_mask, rsv1_ok, limit
    )


@needs_c
@pytest.mark.parametrize(
    "header",
    [
        bytes([0x82, 127]) + (2**63).to_bytes(8, "big"),  # the high bit set
        bytes([0x82, 127]) + (2**62).to_bytes(8, "big"),  # beyond any buffer: waits, or too big
        bytes([0x82, 0xFF]) + (2**40).to_bytes(8, "big") + b"mask",
    ],
)
@pytest.mark.parametrize("limit", [None, 2**20])
def test_c_split_huge_lengths(header, limit):
    """A 64-bit length never overflows the C arithmetic: same answer as Python."""
    for expect_mask in (False, True):
        assert outcome(_speedups.split_frames, header, expect_mask, False, limit) == outcome(
            frames.split_frames_py, header, expect_mask, False, limit
        )


@needs_c
@pytest.mark.parametrize("size", [0, 5, 70000])
def test_c_built_data_message_is_a_sound_bytes_object(size):
    """Allocated by hand in C: it must hash, compare, slice and pickle as bytes do."""
    payload = os.urandom(size)
    (frame,), _, _ = _speedups.split_frames(serialize_frame(Opcode.BINARY, payload, mask=True), True, False, None)
    message = frame.payload
    assert type(message) is DataMessage and message.is_data
    assert message == payload and hash(message) == hash(payload) and {payload: 1}[message] == 1
    assert bytes(message) == payload and message[1:] == payload[1:] and len(message) == size


def test_module_uses_a_valid_split():
    assert frames.split_frames in [frames.split_frames_py] + ([_speedups.split_frames] if _speedups else [])


@needs_c
@pytest.mark.skipif(
    os.environ.get("WS_NO_SPEEDUPS") == "1", reason="this run is the pure-Python one already (WS_NO_SPEEDUPS=1)"
)
def test_the_pure_python_path_passes_the_core_tests():
    """With the C speedups built, the tests above use them; the pure-Python path
    must stay complete, so the frame and protocol tests run once more without them."""
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    env = dict(os.environ, WS_NO_SPEEDUPS="1")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(here / "test_frames.py"), str(here / "test_protocol.py"), str(here / "test_connection.py")],
        env=env, capture_output=True, text=True, timeout=scaled(300),
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
