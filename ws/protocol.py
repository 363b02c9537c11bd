"""The WebSocket connection state machine, sans-I/O (RFC 6455 5-7, RFC 7692).

``Connection.receive_data(bytes)`` returns the messages that arrived and queues
automatic replies (pongs, the close reply) in ``outgoing``; the ``send_*`` methods
return the bytes to write.  There is no I/O and no asyncio here: the shell in
``ws.connection`` moves bytes between a transport and this object.
"""

from __future__ import annotations

import codecs
import enum
import os
from typing import Any

from .closecodes import CloseCode
from .exceptions import InvalidPayload, PayloadTooBig, ProtocolError, WSError, close_code_for
from .frames import FrameParser, Opcode, apply_mask, check_close_code, frame_header, parse_close, serialize_close
from .messages import CloseMessage, DataMessage, Message, PingMessage, PongMessage, TextMessage

__all__ = ["Side", "State", "Connection"]

_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = (
    Opcode.CONT,
    Opcode.TEXT,
    Opcode.BINARY,
    Opcode.CLOSE,
    Opcode.PING,
    Opcode.PONG,
)
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
# Unmasked headers of complete small text and binary frames, by payload length (RFC 6455 5.2).
_TEXT_HEADERS = tuple(frame_header(Opcode.TEXT, n) for n in range(126))
_BINARY_HEADERS = tuple(frame_header(Opcode.BINARY, n) for n in range(126))


class Side(enum.Enum):
    SERVER = "server"
    CLIENT = "client"


class State(enum.Enum):
    """RFC 6455 7: OPEN, CLOSING once we sent a close frame, CLOSED when done."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# The states as module globals: reading one costs a few ns, against about 70 for an
# Enum member looked up on its class, and the hot paths check the state per message.
_OPEN, _CLOSING, _CLOSED = State.OPEN, State.CLOSING, State.CLOSED


class Connection:
    """One side of a WebSocket connection after the opening handshake.

    *deflate* is a ``(Deflater, Inflater, compress_threshold)`` triple when
    permessage-deflate was negotiated.  ``max_message_size`` bounds a message after
    decompression; ``max_frame_size`` bounds a single frame (defaults to the
    message bound).  ``None`` disables a limit.
    """

    __slots__ = (
        "side",
        "state",
        "outgoing",
        "close_code",
        "close_reason",
        "close_received",
        "close_sent",
        "failure",
        "max_message_size",
        "_parser",
        "_mask",
        "_msg_opcode",
        "_msg_parts",
        "_msg_size",
        "_msg_decoder",
        "_msg_compressed",
        "_deflater",
        "_inflater",
        "_threshold",
    )

    def __init__(
        self,
        side: Side,
        *,
        max_message_size: int | None = 2**20,
        max_frame_size: int | None = None,
        deflate: tuple[Any, Any, Any] | None = None,
    ) -> None:
        self.side = side
        self.state = _OPEN
        self.outgoing: list[bytes] = []
        self.close_code: int | None = None  # how the connection ended, once it has
        self.close_reason = ""
        self.close_received: CloseMessage | None = None
        self.close_sent = False
        self.failure: WSError | None = None
        self.max_message_size = max_message_size
        if max_frame_size is None and max_message_size is not None:
            # A compressed frame may be a little longer than what it inflates to
            # (stored blocks cost 5 bytes per 64 KiB), so leave it some room; without
            # any bound a peer could announce a huge frame and have it buffered.
            max_frame_size = max_message_size if deflate is None else max_message_size + max_message_size // 64 + 1024
        # RFC 6455 5.1: a server MUST fail on unmasked frames, a client on masked ones.
        self._mask = side is Side.CLIENT
        self._parser = FrameParser(
            expect_mask=side is Side.SERVER,
            max_frame_size=max_frame_size,
            allow_rsv1=deflate is not None,
        )
        self._msg_opcode: Opcode | None = None
        self._msg_parts: list[Any] = []  # str pieces of a text message, bytes of a binary one
        self._msg_size = 0
        self._msg_decoder: codecs.IncrementalDecoder | None = None
        self._msg_compressed = False
        if deflate is not None:
            self._deflater, self._inflater, self._threshold = deflate
        else:
            self._deflater = self._inflater = None
            self._threshold = 0

    # ------------------------------------------------------------------ receiving

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Message]:
        """Feed bytes from the peer; return the messages they completed.

        Pings, pongs and the peer's close frame are returned too, so the shell can
        see them; their replies are already queued in :attr:`outgoing`.  On a
        protocol violation the connection fails: a close frame with the matching
        code is queued, :attr:`failure` is set, and later bytes are ignored.
        """
        if self.close_received is not None or self.failure is not None or self.state is _CLOSED:
            return []
        events: list[Message] = []
        parser = self._parser
        try:
            for frame in parser.feed(data):
                opcode, payload, fin, rsv1 = frame  # (unpacking beats four attribute reads)
                if opcode is _TEXT or opcode is _BINARY:
                    if self._msg_opcode is not None:
                        raise ProtocolError("new message started before the previous one finished")
                    if fin and not rsv1:
                        if self.max_message_size is not None and len(payload) > self.max_message_size:
                            raise PayloadTooBig(f"message exceeds {self.max_message_size} bytes")
                        if opcode is _TEXT:
                            try:
                                events.append(TextMessage(payload.decode()))
                            except UnicodeDecodeError:
                                raise InvalidPayload("text message is not valid UTF-8") from None
                        else:
                            # (the C frame splitter builds it as a DataMessage already)
                            events.append(payload if payload.__class__ is DataMessage else DataMessage(payload))
                        continue
                    self._msg_opcode = opcode
                    self._msg_parts = []
                    self._msg_size = 0
                    self._msg_compressed = frame.rsv1
                    self._msg_decoder = _Utf8Decoder() if opcode is _TEXT else None
                    self._add_fragment(frame.payload, frame.fin, events)
                elif opcode is _CONT:
                    if self._msg_opcode is None:
                        raise ProtocolError("continuation frame without a message to continue")
                    if frame.rsv1:
                        raise ProtocolError("RSV1 set on a continuation frame")  # RFC 7692 6.1
                    self._add_fragment(frame.payload, frame.fin, events)
                elif opcode is _PING:
                    if self.state is _OPEN:
                        # RFC 6455 5.5.2: answer with a pong carrying the same payload.
                        self.outgoing.append(self._frame(_PONG, frame.payload))
                    events.append(PingMessage(frame.payload))
                elif opcode is _PONG:
                    events.append(PongMessage(frame.payload))
                else:  # close
                    self._receive_close(frame.payload, events)
                    break
            else:
                if parser.error is not None:
                    raise parser.error  # a fault after the frames just handled
        except ProtocolError as exc:
            self._fail(exc)
        return events

    def _add_fragment(self, payload: bytes, fin: bool, events: list[Message]) -> None:
        if self._msg_compressed:
            limit = self.max_message_size
            allowance = None if limit is None else limit - self._msg_size
            payload = self._inflater.decompress(payload, fin, allowance)
        self._msg_size += len(payload)
        if self.max_message_size is not None and self._msg_size > self.max_message_size:
            raise PayloadTooBig(f"message exceeds {self.max_message_size} bytes")
        decoder = self._msg_decoder
        if decoder is not None:
            # Validate UTF-8 fragment by fragment, to fail fast (RFC 6455 8.1).
            try:
                self._msg_parts.append(decoder.decode(payload, fin))
            except UnicodeDecodeError:
                raise InvalidPayload("text message is not valid UTF-8") from None
        else:
            self._msg_parts.append(payload)
        if fin:
            parts = self._msg_parts
            if self._msg_opcode is _TEXT:
                events.append(TextMessage("".join(parts)))
            else:
                events.append(DataMessage(b"".join(parts)))
            self._msg_opcode = None
            self._msg_parts = []
            self._msg_decoder = None

    def _receive_close(self, payload: bytes, events: list[Message]) -> None:
        code, reason = parse_close(payload)
        message = CloseMessage(payload)
        self.close_received = message
        if self.state is _OPEN:
            # RFC 6455 5.5.1: reply with a close frame, echoing the status code.
            self.outgoing.append(self._frame(_CLOSE, serialize_close(code)))
            self.close_sent = True
            self.close_code, self.close_reason = code, reason
        self.state = _CLOSED
        events.append(message)

    def _fail(self, exc: ProtocolError) -> None:
        """RFC 6455 7.1.7: fail the connection with the close code of *exc*."""
        self.failure = exc
        if self.state is _OPEN:
            code = close_code_for(exc)
            self.outgoing.append(self._frame(_CLOSE, serialize_close(code, exc.reason)))
            self.close_sent = True
            self.state = _CLOSING
            self.close_code, self.close_reason = code, exc.reason

    def receive_eof(self) -> None:
        """The TCP connection ended.  Without a closing handshake, that is 1006."""
        if self.close_code is None or (self.close_received is None and self.failure is None):
            if self.close_received is None:
                self.close_code, self.close_reason = CloseCode.ABNORMAL_CLOSURE, "connection lost"
        self.state = _CLOSED

    # ------------------------------------------------------------------ sending

    def _frame(self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
        header, payload = self._frame_parts(opcode, payload, fin, rsv1)
        return header + payload

    def _frame_parts(self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> tuple[bytes, bytes]:
        if self._mask:
            mask = os.urandom(4)
            return frame_header(opcode, len(payload), fin=fin, rsv1=rsv1, mask=mask), apply_mask(payload, mask)
        return frame_header(opcode, len(payload), fin=fin, rsv1=rsv1), payload

    def _message(self, opcode: int, payload: bytes) -> bytes:
        header, payload = self._message_parts(opcode, payload)
        return header + payload

    def _message_parts(self, opcode: int, payload: bytes) -> tuple[bytes, bytes]:
        if self._deflater is not None and len(payload) >= self._threshold:
            return self._frame_parts(opcode, self._deflater.compress(payload), True, True)
        return self._frame_parts(opcode, payload)

    def _check_open(self) -> None:
        if self.state is not _OPEN:
            raise RuntimeError(f"cannot send on a {self.state.value} connection")

    def send_text(self, text: str) -> bytes:
        """Bytes of a text message."""
        if self.state is not _OPEN:
            self._check_open()
        payload = text.encode()
        if self._deflater is None and not self._mask:  # the common case: a server's frame, as is
            n = len(payload)
            return (_TEXT_HEADERS[n] if n < 126 else frame_header(_TEXT, n)) + payload
        return self._message(_TEXT, payload)

    def send_data(self, data: bytes | bytearray | memoryview) -> bytes:
        """Bytes of a binary message."""
        if self.state is not _OPEN:
            self._check_open()
        # bytes (and its subclasses, like a received DataMessage) are immutable: no copy.
        payload = data if isinstance(data, bytes) else bytes(data)
        if self._deflater is None and not self._mask:
            n = len(payload)
            return (_BINARY_HEADERS[n] if n < 126 else frame_header(_BINARY, n)) + payload
        return self._message(_BINARY, payload)

    def send_parts(self, message: str | bytes | bytearray | memoryview) -> tuple[bytes, bytes]:
        """The frame of a text (``str``) or binary message as its header and its
        payload, to be written one after the other: for a large message, whose
        payload would otherwise be copied once more behind its header."""
        if self.state is not _OPEN:
            self._check_open()
        if isinstance(message, str):
            return self._message_parts(_TEXT, message.encode())
        return self._message_parts(_BINARY, message if isinstance(message, bytes) else bytes(message))

    def send_fragments(self, opcode: Opcode, pieces: list[bytes]) -> bytes:
        """Bytes of one message sent as several frames (one per piece, RFC 6455 5.4)."""
        self._check_open()
        if not pieces:
            pieces = [b""]
        if self._deflater is not None and sum(map(len, pieces)) >= self._threshold:
            # Compress the whole message, then cut the compressed stream at the same count.
            whole = self._deflater.compress(b"".join(pieces))
            step = max(1, -(-len(whole) // len(pieces)))
            chunks = [whole[i : i + step] for i in range(0, len(whole), step)] or [b""]
            out = [self._frame(opcode if i == 0 else _CONT, c, i == len(chunks) - 1, i == 0) for i, c in enumerate(chunks)]
            return b"".join(out)
        last = len(pieces) - 1
        return b"".join(self._frame(opcode if i == 0 else _CONT, p, i == last) for i, p in enumerate(pieces))

    def send_ping(self, payload: bytes = b"") -> bytes:
        self._check_open()
        if len(payload) > 125:
            raise ValueError("ping payload must be 125 bytes or fewer")
        return self._frame(_PING, bytes(payload))

    def send_pong(self, payload: bytes = b"") -> bytes:
        self._check_open()
        if len(payload) > 125:
            raise ValueError("pong payload must be 125 bytes or fewer")
        return self._frame(_PONG, bytes(payload))

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
        """Start the closing handshake (RFC 6455 7.1.2).  Returns b"" if already closing."""
        if self.state is not _OPEN:
            return b""
        # 1005 sends a close frame without a code (serialize_close leaves it empty).
        if code != CloseCode.NO_STATUS_RCVD and not check_close_code(code):
            raise ValueError(f"invalid close code {code}")
        self.state = _CLOSING
        self.close_sent = True
        self.close_code, self.close_reason = code, reason
        return self._frame(_CLOSE, serialize_close(code, reason))

    def data_to_send(self) -> list[bytes]:
        """Take the automatic replies queued by :meth:`receive_data`."""
        out, self.outgoing = self.outgoing, []
        return out
