"""Codecs: JSON in text frames, msgpack in binary frames; bad input is only ever DecodeError."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms import DecodeError, decode, encode_data, encode_text

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSONISH)
@settings(max_examples=150, deadline=None)
def test_round_trips(obj):
    text = encode_text(obj)
    assert isinstance(text, str)
    text.encode()  # always sendable in a text frame
    assert decode(text) == obj
    data = encode_data(obj)
    assert isinstance(data, bytes)
    assert decode(data) == obj


def test_text_is_compact_utf8_json():
    assert encode_text({"a": [1, 2], "é": "ü"}) == '{"a":[1,2],"é":"ü"}'


@given(st.binary(max_size=64))
@settings(max_examples=200, deadline=None)
def test_any_bytes_decode_or_decode_error(data):
    try:
        decode(data)
    except DecodeError:
        pass


@given(st.text(max_size=64))
@settings(max_examples=200, deadline=None)
def test_any_text_decodes_to_something_sendable_or_decode_error(text):
    try:
        obj = decode(text)
    except DecodeError:
        return
    encode_text(obj).encode()  # what a game echoes back must fit a text frame


@pytest.mark.parametrize(
    "message",
    [
        "not json{",
        "",
        "[" * 100_000,  # deep nesting: RecursionError inside json
        "1" * 5000,  # int too long to convert
        '"\\ud800"',  # a lone surrogate cannot be sent back in a text frame
        '{"\\udc00": 1}',
        b"\xc1",  # never used in msgpack
        b"\x92\x01",  # truncated array
        b"\x01\x02",  # extra data
        b"\xdb\xff\xff\xff\xff",  # str32 longer than the message
        b"\x81\x91\x01\x02",  # map with a list as key: unhashable
        b"\xa2\xff\xfe",  # str that is not UTF-8
        b"\x91" * 100_000,  # deep nesting
    ],
)
def test_bad_payloads_are_decode_errors(message):
    with pytest.raises(DecodeError) as info:
        decode(message)
    assert isinstance(info.value, ValueError)
    kind = "JSON" if isinstance(message, str) else "msgpack"
    assert str(info.value).startswith(f"message is not valid {kind}: "), str(info.value)


def test_surrogate_pairs_and_escaped_backslashes_are_fine():
    assert decode('"\\ud83d\\ude00"') == "\U0001f600"
    assert decode('"\\\\ud800"') == "\\ud800"


def test_msgpack_int_keys_and_bytes():
    assert decode(msgpack.packb({1: b"\x00"}, use_bin_type=True)) == {1: b"\x00"}
    assert json.loads(encode_text([1.5, None])) == [1.5, None]


def test_bytes_travel_as_msgpack_bin_and_come_back_as_bytes():
    # Bytes that are not UTF-8 must survive the trip: packed as msgpack's bin type
    # (not as a str), which every msgpack client decodes as bytes.
    obj = {"blob": b"\xff\x00\xfe", "s": "é"}
    data = encode_data(obj)
    assert data == msgpack.packb(obj, use_bin_type=True)
    assert decode(data) == obj
    assert msgpack.unpackb(data, raw=True) == {b"blob": b"\xff\x00\xfe", b"s": "é".encode()}
