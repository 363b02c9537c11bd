"""``ws.CloseCode``, ``rooms.CLOSE_CODES`` and ``close_code_for``, the one mapping
from how a connection or a handler ended to the close code we send."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest

import rooms
import ws
from tests.support import running, url
from ws import CloseCode
from ws.exceptions import close_code_for
from ws.frames import check_close_code, parse_close, serialize_close

# RFC 6455 7.4.1 and the IANA registry, and the rooms layer's (docs/protocol.md).
EXPECTED = {
    "NORMAL_CLOSURE": 1000,
    "GOING_AWAY": 1001,
    "PROTOCOL_ERROR": 1002,
    "UNSUPPORTED_DATA": 1003,
    "NO_STATUS_RCVD": 1005,
    "ABNORMAL_CLOSURE": 1006,
    "INVALID_PAYLOAD": 1007,
    "POLICY_VIOLATION": 1008,
    "MESSAGE_TOO_BIG": 1009,
    "MANDATORY_EXTENSION": 1010,
    "INTERNAL_ERROR": 1011,
    "SERVICE_RESTART": 1012,
    "TRY_AGAIN_LATER": 1013,
    "BAD_GATEWAY": 1014,
    "TLS_HANDSHAKE": 1015,
    "LOBBY_TIMEOUT": 4000,
    "INVALID_TOKEN": 4001,
    "SEAT_UNAVAILABLE": 4002,
    "UNKNOWN_ROOM": 4004,
    "REPLACED": 4005,
    "SEAT_EXPIRED": 4006,
}


def test_close_codes_are_the_registry_and_the_rooms_codes() -> None:
    assert {code.name: code.value for code in CloseCode} == EXPECTED


def test_a_close_code_is_the_integer_on_the_wire() -> None:
    code = CloseCode.GOING_AWAY
    assert code == 1001 and isinstance(code, int)
    assert f"{code}" == str(code) == "1001"
    assert json.dumps({"code": code}) == '{"code": 1001}'
    assert msgpack.packb(code) == msgpack.packb(1001)
    assert serialize_close(code, "bye") == serialize_close(1001, "bye") == b"\x03\xe9bye"


def test_rooms_close_codes_keep_their_names_and_values() -> None:
    assert rooms.CLOSE_CODES == {
        "game_over": 1000,
        "server_shutdown": 1001,
        "internal_error": 1011,
        "host_lost": 1012,
        "unavailable": 1013,
        "lobby_timeout": 4000,
        "invalid_token": 4001,
        "seat_unavailable": 4002,
        "unknown_room": 4004,
        "replaced": 4005,
        "seat_expired": 4006,
    }
    assert all(type(code) is CloseCode for code in rooms.CLOSE_CODES.values())


def test_close_codes_allowed_on_the_wire_are_exactly_rfc_6455_7_4() -> None:
    # 1000-1003 and 1007-1014 (the IANA registry), 3000-4999 (RFC 6455 7.4.2); no other.
    allowed = {1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)}
    assert {code for code in range(70000) if check_close_code(code)} == allowed
    for code in (CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE):
        assert not check_close_code(code)
    assert parse_close(b"") == (CloseCode.NO_STATUS_RCVD, "")


class Custom(ws.ProtocolError):
    code = 4321


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (None, 1000),
        (ws.Closed(code=1006), 1000),  # a peer left: the others are closed normally
        (BaseExceptionGroup("left", [ws.Closed(), ws.Closed()]), 1000),
        (asyncio.CancelledError(), 1001),  # shutdown
        (ws.ProtocolError("bad frame"), 1002),
        (ws.InvalidPayload("bad UTF-8"), 1007),
        (ws.PolicyViolation("cheating"), 1008),
        (ws.PayloadTooBig("too big"), 1009),
        (Custom("ours"), 4321),
        (ValueError("secret"), 1011),
        (BaseExceptionGroup("mixed", [ws.Closed(), ValueError()]), 1011),
        (BaseExceptionGroup("cancelled", [asyncio.CancelledError()]), 1011),
    ],
)
def test_close_code_for(exc: BaseException | None, code: int) -> None:
    assert close_code_for(exc) == code


async def test_handler_raising_a_protocol_error_closes_with_its_code_and_reason() -> None:
    app = ws.App()

    @app.route("/strict")
    @ws.endpoint
    async def strict(request, sock):
        await sock
        raise ws.PolicyViolation("no cheating")

    async with running(app) as server:
        client = await ws.connect(url(server, "/strict"))
        client.text("move")
        with pytest.raises(ws.Closed) as info:
            async with asyncio.timeout(3):
                while True:
                    await client
        assert (info.value.code, info.value.reason) == (1008, "no cheating")
