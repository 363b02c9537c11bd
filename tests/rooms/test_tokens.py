"""Seat tokens: unguessable, signed, bound to one room and one seat."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms import SeatToken, TokenSigner


def test_issue_and_verify():
    signer = TokenSigner(b"s" * 32)
    text, token = signer.issue("room1", 3)
    assert token == SeatToken("room1", 3, token.nonce)
    assert signer.verify(text) == token
    assert len(token.nonce) >= 22  # 128 bits in base64


def test_tokens_are_unique():
    signer = TokenSigner()
    texts = {signer.issue("r", 0)[0] for _ in range(200)}
    assert len(texts) == 200


def test_another_seat_or_room_fails_the_signature():
    signer = TokenSigner()
    text, _ = signer.issue("room1", 0)
    room, seat, nonce, mac = text.split(".")
    assert signer.verify(f"{room}.1.{nonce}.{mac}") is None
    assert signer.verify(f"room2.{seat}.{nonce}.{mac}") is None
    assert signer.verify(f"{room}.{seat}.{other_last(nonce)}.{mac}") is None
    assert signer.verify(f"{room}.{seat}.{nonce}.{other_last(mac)}") is None


def test_a_truncated_empty_or_extended_mac_fails():
    # The whole MAC must match: a check that accepted a prefix of the expected
    # MAC would let anyone who knows a room and seat forge a token with no MAC.
    signer = TokenSigner(b"s" * 32)
    text, token = signer.issue("room1", 1)
    body, mac = text.rsplit(".", 1)
    for forged in ["", mac[:1], mac[:-1], mac[: len(mac) // 2], mac + "A", mac + mac]:
        assert signer.verify(f"{body}.{forged}") is None, forged
    assert signer.verify(f"{body}.{mac}") == token


def other_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def test_another_secret_fails():
    text, _ = TokenSigner(b"a" * 16).issue("r", 0)
    assert TokenSigner(b"b" * 16).verify(text) is None
    assert TokenSigner("a" * 16).verify(text) is not None  # str secrets are UTF-8


def test_short_secret_is_refused():
    with pytest.raises(ValueError):
        TokenSigner(b"short")


@pytest.mark.parametrize("text", ["", "a.b.c", "a.b.c.d.e", "r.-1.n.m", "r.00001.n.m", "r.x.n.m", "x" * 600, None, 42])
def test_malformed(text):
    assert TokenSigner().verify(text) is None


@given(st.text(max_size=120))
@settings(max_examples=200, deadline=None)
def test_random_text_never_verifies_nor_raises(text):
    assert TokenSigner(b"k" * 32).verify(text) is None


URLSAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_pieces_are_unpadded_urlsafe_base64_of_the_promised_sizes():
    # A 128-bit nonce is 22 characters and an HMAC-SHA256 43, with no "=" padding
    # (tokens travel in URLs and query strings).  Many seats, so some MAC ends in
    # every character a wrong strip could eat.
    signer = TokenSigner(b"s" * 32)
    for seat in range(600):
        text, token = signer.issue("room1", seat)
        room, seat_text, nonce, mac = text.split(".")
        assert (room, seat_text, nonce) == ("room1", str(seat), token.nonce)
        assert len(nonce) == 22 and set(nonce) <= URLSAFE, nonce
        assert len(mac) == 43 and set(mac) <= URLSAFE, mac


def test_short_secret_error_says_why():
    with pytest.raises(ValueError, match=r"^the token secret must be at least 16 bytes$"):
        TokenSigner(b"x" * 15)
    TokenSigner(b"x" * 16)  # 16 bytes is enough


def token_of_length(signer: TokenSigner, length: int) -> str:
    text, _ = signer.issue("r", 0)
    text, _ = signer.issue("r" * (1 + length - len(text)), 0)
    assert len(text) == length
    return text


def test_tokens_up_to_512_characters_verify_and_longer_ones_do_not():
    signer = TokenSigner(b"s" * 32)
    assert signer.verify(token_of_length(signer, 512)) is not None
    assert signer.verify(token_of_length(signer, 513)) is None


def test_seats_have_at_most_four_decimal_digits_even_when_signed():
    signer = TokenSigner(b"s" * 32)
    text, token = signer.issue("r", 9999)
    assert signer.verify(text) == token
    for seat in (10000, 123456, -1):
        text, _ = signer.issue("r", seat)
        assert signer.verify(text) is None, seat


def test_sign_gives_back_the_token_issue_gave_for_its_nonce():
    signer = TokenSigner("x" * 32)
    text, token = signer.issue("room1", 3)
    assert signer.sign("room1", 3, token.nonce) == text  # e.g. a seat rebuilt from a room's log
    assert signer.verify(signer.sign("room1", 3, "n0nce")) == SeatToken("room1", 3, "n0nce")
    assert signer.sign("room1", 3, "n0nce").startswith("room1.3.n0nce.")
