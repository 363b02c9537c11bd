"""The optional C masking gives the same bytes as the pure-Python reference."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws import frames

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
