"""RFC 6455 section 5: the frame layer, sans-I/O.

Parsing is incremental and works on a ``bytearray`` with a moving offset, so a
single ``feed`` parses every complete frame in the buffer.  Masking XORs the
payload as one big integer: no per-byte Python loop.
"""

from __future__ import annotations

import enum
import os
from typing import Any, NamedTuple

from .closecodes import CloseCode
from .exceptions import InvalidPayload, PayloadTooBig, ProtocolError

__all__ = [
    "Opcode",
    "Frame",
    "FrameParser",
    "split_frames",
    "apply_mask",
    "serialize_frame",
    "frame_header",
    "check_close_code",
    "parse_close",
    "serialize_close",
]


class Opcode(enum.IntEnum):
    """RFC 6455 5.2: frame opcodes."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        return self >= 0x8


# Indexed by the 4-bit opcode; None marks a reserved opcode (RFC 6455 5.2).
_OPCODES: tuple[Opcode | None, ...] = tuple(
    Opcode(i) if i in {op.value for op in Opcode} else None for i in range(16)
)


class Frame(NamedTuple):
    """One parsed frame.  A tuple for speed: one is built per frame on the hot path."""

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False


def apply_mask_py(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR *data* with the 4-byte *mask* repeated (RFC 6455 5.3), in pure Python:
    the payload is XORed as one big integer, never byte by byte."""
    n = len(data)
    if n == 0:
        return b""
    key = mask * ((n + 3) >> 2)
    if len(key) != n:
        key = key[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


# The optional C versions (ws/_speedups.c) are used when they were compiled, unless
# WS_NO_SPEEDUPS=1; both give the same results (tests check each).  With
# WS_NO_SPEEDUPS=1 the compiled module is still configured (below), so the tests
# can compare it with the pure-Python path that is then in use.
_compiled: Any = None
try:
    from . import _speedups as _compiled  # type: ignore[attr-defined,no-redef]  # compiled, may be absent
except ImportError:
    pass
_speedups: Any = _compiled if os.environ.get("WS_NO_SPEEDUPS") != "1" else None
apply_mask = getattr(_speedups, "apply_mask", apply_mask_py)


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv1: bool = False, mask: bytes | None = None) -> bytes:
    """The header of a frame carrying *length* payload bytes (RFC 6455 5.2)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    m = 0x80 if mask is not None else 0
    if length < 126:
        head = bytes((b0, m | length))
    elif length < 65536:
        head = bytes((b0, m | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((b0, m | 127)) + length.to_bytes(8, "big")
    return head + mask if mask is not None else head


def serialize_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool | bytes = False,
) -> bytes:
    """A complete frame.  ``mask=True`` draws a fresh mask (clients must, RFC 6455 5.3)."""
    if mask is True:
        mask = os.urandom(4)
    if mask:
        return frame_header(opcode, len(payload), fin=fin, rsv1=rsv1, mask=mask) + apply_mask(payload, mask)
    return frame_header(opcode, len(payload), fin=fin, rsv1=rsv1) + payload


# RFC 6455 7.4.1 and the IANA registry: the 1000-2999 codes a peer may send in a
# close frame, listed one by one (1004 is reserved; 1005, 1006 and 1015 are never sent).
_VALID_CLOSE_CODES = frozenset(
    int(code)
    for code in (
        CloseCode.NORMAL_CLOSURE,
        CloseCode.GOING_AWAY,
        CloseCode.PROTOCOL_ERROR,
        CloseCode.UNSUPPORTED_DATA,
        CloseCode.INVALID_PAYLOAD,
        CloseCode.POLICY_VIOLATION,
        CloseCode.MESSAGE_TOO_BIG,
        CloseCode.MANDATORY_EXTENSION,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
    )
)


def check_close_code(code: int) -> bool:
    """Whether *code* may appear in a close frame (1005, 1006, 1015 may not, RFC 6455 7.4.1)."""
    # RFC 6455 7.4.2: 3000-3999 are registered with IANA for libraries and
    # frameworks, 4000-4999 are for applications; both may be sent.
    return code in _VALID_CLOSE_CODES or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """Validate a close frame's payload (RFC 6455 5.5.1) and return (code, reason)."""
    if not payload:
        return CloseCode.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not check_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = bytes(payload[2:]).decode()
    except UnicodeDecodeError:
        raise InvalidPayload("close reason is not valid UTF-8") from None
    return code, reason


def serialize_close(code: int, reason: str = "") -> bytes:
    """A close frame's payload; reasons are cut to fit the 125-byte limit (RFC 6455 5.5)."""
    if code == CloseCode.NO_STATUS_RCVD:
        return b""
    data = reason.encode()
    if len(data) > 123:
        data = data[:123].decode(errors="ignore").encode()
    return code.to_bytes(2, "big") + data


class FrameParser:
    """Incremental frame parser: ``feed(bytes) -> list[Frame]``.

    It checks what can be checked frame by frame: reserved bits and opcodes,
    control frame rules, masking (clients mask, servers don't) and the frame size
    limit, before the payload has arrived.  Message-level rules (continuations,
    UTF-8, message size) belong to :class:`ws.protocol.Connection`.
    """

    __slots__ = ("_buf", "_expect_mask", "_rsv1_ok", "max_frame_size", "error")

    def __init__(self, *, expect_mask: bool, max_frame_size: int | None = None, allow_rsv1: bool = False) -> None:
        self._buf = bytearray()
        self._expect_mask = expect_mask
        self._rsv1_ok = allow_rsv1
        self.max_frame_size = max_frame_size
        # A fault found after some complete frames: those frames are returned
        # first, and the fault is raised by the next ``feed`` (``feed(b"")`` will do).
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """How many bytes of an incomplete frame are waiting."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Parse every complete frame; keep the rest.  Raises :class:`ProtocolError`.

        The frames before a fault are never lost: when the buffer holds complete
        frames and then a fault, they are returned and :attr:`error` is set; the
        next call raises it.  So the frames seen do not depend on the chunking.
        """
        if self.error is not None:
            raise self.error
        buf = self._buf
        if buf:
            buf += data
            data = buf
        frames, off, error = split_frames(data, self._expect_mask, self._rsv1_ok, self.max_frame_size)
        if error is not None:
            if not frames:
                raise error
            self.error = error
        elif data is buf:
            del buf[:off]
        elif off < len(data):
            buf += data[off:] if off else data
        return frames


_new_frame = tuple.__new__  # builds a Frame without NamedTuple's Python-level __new__


def split_frames_py(
    data: bytes | bytearray | memoryview, expect_mask: bool, rsv1_ok: bool, limit: int | None
) -> tuple[list[Frame], int, ProtocolError | None]:
    """Every complete frame at the start of *data*, how many bytes they took, and
    the fault met after them (``None`` if none): the parsing half of
    :class:`FrameParser`, which keeps the bytes of an incomplete frame for later.

    It checks what a frame's header alone can tell (RFC 6455 5.2), before its
    payload has arrived, so a huge announced length is refused at once.
    """
    frames: list[Frame] = []
    append = frames.append
    n = len(data)
    off = 0
    while n - off >= 2:
        b0 = data[off]
        b1 = data[off + 1]
        opcode = _OPCODES[b0 & 0x0F]
        if opcode is None:
            return frames, off, ProtocolError(f"reserved opcode {b0 & 0x0F}")
        # RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them;
        # permessage-deflate defines RSV1 (RFC 7692 6).
        if b0 & 0x70 and (b0 & 0x30 or not rsv1_ok):
            return frames, off, ProtocolError("reserved bits set")
        length = b1 & 0x7F
        masked = b1 & 0x80
        if opcode >= 8:
            # RFC 6455 5.5: control frames are not fragmented, carry <= 125 bytes.
            if not b0 & 0x80:
                return frames, off, ProtocolError("fragmented control frame")
            if length > 125:
                return frames, off, ProtocolError("control frame too long")
            if b0 & 0x40:
                return frames, off, ProtocolError("compressed control frame")
        if bool(masked) is not expect_mask:
            # RFC 6455 5.1: clients MUST mask, servers MUST NOT.
            return frames, off, ProtocolError("incorrect masking")
        pos = off + 2
        if length == 126:
            if n - pos < 2:
                break
            length = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif length == 127:
            if n - pos < 8:
                break
            length = int.from_bytes(data[pos : pos + 8], "big")
            if length >> 63:
                return frames, off, ProtocolError("frame length with the high bit set")
            pos += 8
        if limit is not None and length > limit:
            return frames, off, PayloadTooBig(f"frame of {length} bytes exceeds the limit of {limit}")
        if masked:
            end = pos + 4 + length
            if end > n:
                break
            payload = apply_mask(memoryview(data)[pos + 4 : end], bytes(data[pos : pos + 4]))
        else:
            end = pos + length
            if end > n:
                break
            payload = bytes(data[pos:end])
        append(_new_frame(Frame, (opcode, payload, bool(b0 & 0x80), bool(b0 & 0x40))))
        off = end
    return frames, off, None


split_frames = split_frames_py
if hasattr(_compiled, "split_frames"):  # (absent from a build of an older ws/_speedups.c)
    from .messages import DataMessage

    # The C version builds the payload of a complete binary frame as a DataMessage
    # already, which saves ws.protocol a copy of the whole message.
    _compiled.configure(Frame, _OPCODES, ProtocolError, PayloadTooBig, DataMessage)
if hasattr(_speedups, "split_frames"):
    split_frames = _speedups.split_frames
