"""permessage-deflate (RFC 7692): negotiation and per-message compression, sans I/O.

Negotiation works on the parsed ``Sec-WebSocket-Extensions`` header, a list of
``(extension name, [(parameter, value or None), ...])`` in header order, with
quoted-string values either already unquoted or still quoted (both accepted).
The server picks an offer with :func:`server_negotiate`; the client builds its
offer with :func:`client_offer` and checks the answer with
:func:`client_accept`.  Both produce a :class:`DeflateParams`, from which each
side builds a :class:`Deflater` for the messages it sends and an
:class:`Inflater` for the messages it receives.

Window bits 8.  zlib (since 1.2.9) refuses ``windowBits=8`` for raw deflate
*compression* (older versions silently used 9, which a peer limited to 8 cannot
read).  So we never agree to compress with an 8-bit window: a server declines
an offer with ``server_max_window_bits=8`` and tries the next one, and a client
fails the handshake when the server answers ``client_max_window_bits=8``
(RFC 7692 7.1.2.2: the client MUST fail when it does not support the value).
Our own configuration accepts 9..15 only.  *Decompressing* with 8 works, so a
peer's window of 8 is fine.

Memory.  A zlib compressor takes about ``2**(wbits + 2) + 2**(memLevel + 9)``
bytes.  We use ``memLevel = wbits - 7`` (8 at wbits 15, zlib's default; 5 at
12), so the hash table has as many entries as the window has bytes: a larger
table gains little on a smaller window.  Lowering the window bits is therefore
the one knob for memory: about 256 KiB per compressor at 15, 32 KiB at 12.

Errors.  A peer's data that does not inflate raises :class:`InvalidPayload`
(close 1007, "data inconsistent with the message type"), a message that
inflates beyond the caller's limit raises :class:`PayloadTooBig` (1009), and a
bad negotiation response raises :class:`InvalidHandshake` with status 0 (there
is no HTTP status to answer on the client side).
"""

from __future__ import annotations

import zlib
from functools import partial
from typing import Any, NamedTuple

import attrs

from .exceptions import InvalidHandshake, InvalidPayload, PayloadTooBig

__all__ = [
    "EXTENSION_NAME",
    "DeflateParams",
    "DeflateConfig",
    "DeflateCodec",
    "compression_config",
    "server_negotiate",
    "client_offer",
    "client_accept",
    "Deflater",
    "Inflater",
]

EXTENSION_NAME = "permessage-deflate"

Extensions = list[tuple[str, list[tuple[str, str | None]]]]

# RFC 7692 7.2.1 / 7.2.2: the empty stored block a sync flush ends with,
# removed by the sender and appended again by the receiver.
_TAIL = b"\x00\x00\xff\xff"

_SERVER_NCT = "server_no_context_takeover"
_CLIENT_NCT = "client_no_context_takeover"
_SERVER_MWB = "server_max_window_bits"
_CLIENT_MWB = "client_max_window_bits"
_PARAMS = (_SERVER_NCT, _CLIENT_NCT, _SERVER_MWB, _CLIENT_MWB)

# RFC 7692 7.1.2.1: window bits are "8" to "15", decimal, no leading zero.
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}


def _check_bits(low: int, instance: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    """The attrs validator of window bits between *low* and 15 (or None), bound to
    *low* with ``functools.partial``: a module-level function, so that the check
    itself runs when a value is validated (mutation testing can reach it)."""
    if value is not None and not low <= value <= 15:
        raise ValueError(f"{attribute.name} must be between {low} and 15, got {value}")


@attrs.frozen(slots=True)
class DeflateParams:
    """The parameters both ends agreed on (server_* for the server's messages).

    Each side reads the server_* or client_* half for its own messages and the
    other half for the peer's.  Window bits are 8..15 (8 is accepted only for
    the side we decompress; see the module docstring).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = attrs.field(default=15, validator=partial(_check_bits, 8))
    client_max_window_bits: int = attrs.field(default=15, validator=partial(_check_bits, 8))

    def to_header(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value a server answers with.

        Only parameters that differ from the RFC 7692 defaults are listed.
        """
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append(_SERVER_NCT)
        if self.client_no_context_takeover:
            parts.append(_CLIENT_NCT)
        if self.server_max_window_bits != 15:
            parts.append(f"{_SERVER_MWB}={self.server_max_window_bits}")
        if self.client_max_window_bits != 15:
            parts.append(f"{_CLIENT_MWB}={self.client_max_window_bits}")
        return "; ".join(parts)


@attrs.frozen(slots=True, kw_only=True)
class DeflateConfig:
    """What an endpoint is willing to do, for either role.

    ``*_no_context_takeover`` asks (client) or imposes (server) that the named
    side resets its compression context after each message: less memory kept
    between messages, a worse ratio.  ``*_max_window_bits`` (9..15, ``None``
    leaves it to the peer) bounds the named side's LZ77 window.  Messages
    shorter than ``compress_threshold`` bytes are sent uncompressed: deflating
    them costs CPU and rarely saves bytes; the sender applies it per message
    and leaves RSV1 clear on every frame of such a message (RFC 7692 6).
    ``level`` is the zlib level (0..9).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = attrs.field(default=None, validator=partial(_check_bits, 9))
    client_max_window_bits: int | None = attrs.field(default=None, validator=partial(_check_bits, 9))
    compress_threshold: int = attrs.field(default=128, validator=attrs.validators.ge(0))
    level: int = attrs.field(
        default=6, validator=[attrs.validators.ge(0), attrs.validators.le(9)]
    )

    def codec(self, params: DeflateParams, *, is_server: bool) -> DeflateCodec:
        """The compressor and decompressor of one side of a connection that agreed on *params*."""
        return DeflateCodec(
            Deflater(params, is_server=is_server, level=self.level),
            Inflater(params, is_server=is_server),
            self.compress_threshold,
        )


_DEFAULT_CONFIG = DeflateConfig()


def compression_config(compression: DeflateConfig | bool | None) -> DeflateConfig | None:
    """The ``compression=`` keyword of ``ws.endpoint``, ``ws.accept``, ``ws.connect`` and
    ``ws.client`` as a config: ``True`` is the default one (what a client offers and a
    server accepts unless told otherwise), ``False`` or ``None`` no compression."""
    if compression is True:
        return _DEFAULT_CONFIG
    if compression is False:
        return None
    return compression


class _Invalid(Exception):
    """An offer or response that breaks RFC 7692 (internal: declined or failed)."""


def _unquote(value: str) -> str:
    """Undo the quoted-string syntax RFC 6455 9.1 allows for parameter values."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out = []
        chars = iter(value[1:-1])
        for char in chars:
            if char == "\\":
                # RFC 7230 3.2.6: a quoted-pair; a lone backslash escapes the closing quote.
                escaped = next(chars, None)
                if escaped is None:
                    raise _Invalid(f"unterminated quoted value {value}")
                char = escaped
            out.append(char)
        return "".join(out)
    return value


def _parse(params: list[tuple[str, str | None]], *, is_offer: bool) -> dict[str, int | None]:
    """Validate permessage-deflate parameters; map each name to its bits or None.

    RFC 7692 5.1: unknown names, repeated names and invalid values make the
    whole offer (or response) invalid.  ``client_max_window_bits`` may come
    without a value only in an offer (RFC 7692 7.1.2.2).
    """
    seen: dict[str, int | None] = {}
    for raw_name, raw_value in params:
        name = raw_name.lower()
        value = None if raw_value is None else _unquote(raw_value)
        if name not in _PARAMS:
            raise _Invalid(f"unknown parameter {raw_name!r}")
        if name in seen:
            raise _Invalid(f"duplicate parameter {name}")
        if name in (_SERVER_NCT, _CLIENT_NCT):
            # RFC 7692 7.1.1.1 / 7.1.1.2: these parameters have no value.
            if value is not None:
                raise _Invalid(f"{name} takes no value")
            seen[name] = None
        elif value is None:
            if name == _SERVER_MWB or not is_offer:
                raise _Invalid(f"{name} needs a value")
            seen[name] = None
        elif value in _WINDOW_BITS:
            seen[name] = _WINDOW_BITS[value]
        else:
            raise _Invalid(f"invalid {name}={value!r}")
    return seen


def _accept_offer(offer: dict[str, int | None], config: DeflateConfig) -> DeflateParams:
    """The parameters a server answers one valid offer with, or :class:`_Invalid`."""
    # RFC 7692 7.1.2.1: answer with the offered server window or a smaller one.
    server_bits = 15
    if _SERVER_MWB in offer:
        server_bits = offer[_SERVER_MWB] or 15
    if config.server_max_window_bits is not None:
        server_bits = min(server_bits, config.server_max_window_bits)
    if server_bits == 8:
        raise _Invalid("zlib cannot compress with an 8-bit window")

    # RFC 7692 7.1.2.2: without client_max_window_bits in the offer, the
    # response must not carry it, so a server that must bound the client's
    # window declines.  With a value, the client already promised to stay
    # within it; we may answer that value or a smaller one.
    if _CLIENT_MWB not in offer:
        if config.client_max_window_bits is not None:
            raise _Invalid("cannot bound the client's window")
        client_bits = 15
    else:
        client_bits = offer[_CLIENT_MWB] or 15
        if config.client_max_window_bits is not None:
            client_bits = min(client_bits, config.client_max_window_bits)

    return DeflateParams(
        # RFC 7692 7.1.1.1: accepting server_no_context_takeover means echoing it;
        # the server may also add it on its own.
        server_no_context_takeover=_SERVER_NCT in offer or config.server_no_context_takeover,
        # RFC 7692 7.1.1.2: the server may always ask the client to reset; an
        # offered client_no_context_takeover is echoed so we can reset our inflater.
        client_no_context_takeover=_CLIENT_NCT in offer or config.client_no_context_takeover,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )


def server_negotiate(offers: Extensions, config: DeflateConfig) -> DeflateParams | None:
    """Pick the first acceptable permessage-deflate offer, in the client's order.

    RFC 7692 5.1: an offer with an unknown, repeated or invalid parameter, or
    one we cannot honour, is declined and the next one tried.  Other
    extensions are ignored.  Returns ``None`` when no offer is acceptable (the
    connection then goes on without compression); never raises for bad offers.
    """
    for name, params in offers:
        if name.lower() != EXTENSION_NAME:
            continue
        try:
            return _accept_offer(_parse(params, is_offer=True), config)
        except _Invalid:
            continue
    return None


def client_offer(config: DeflateConfig) -> str:
    """The ``Sec-WebSocket-Extensions`` value a client sends.

    ``client_max_window_bits`` is always offered (RFC 7692 7.1.2.2), without a
    value when unconfigured, so that the server may bound our window.
    """
    parts = [EXTENSION_NAME]
    if config.server_no_context_takeover:
        parts.append(_SERVER_NCT)
    if config.client_no_context_takeover:
        parts.append(_CLIENT_NCT)
    if config.server_max_window_bits is not None:
        parts.append(f"{_SERVER_MWB}={config.server_max_window_bits}")
    if config.client_max_window_bits is not None:
        parts.append(f"{_CLIENT_MWB}={config.client_max_window_bits}")
    else:
        parts.append(_CLIENT_MWB)
    return "; ".join(parts)


def _check_response(response: dict[str, int | None], config: DeflateConfig) -> DeflateParams:
    """The parameters a response to :func:`client_offer` represents, or :class:`_Invalid`."""
    # RFC 7692 7.1.1.1: a server accepts server_no_context_takeover by echoing it.
    if config.server_no_context_takeover and _SERVER_NCT not in response:
        raise _Invalid(f"{_SERVER_NCT} was offered but not accepted")

    # RFC 7692 7.1.2.1: an offered server window must come back, same or smaller;
    # the server may also bound its own window unasked.  An absent value means
    # 15, which is acceptable only if we offered 15.
    server_bits = response.get(_SERVER_MWB) or 15
    if config.server_max_window_bits is not None:
        if server_bits > config.server_max_window_bits:
            raise _Invalid(f"{_SERVER_MWB}={server_bits} exceeds the offer")

    # RFC 7692 7.1.2.2: the response value, if any, is at most the offered one;
    # without it, we keep the bound we offered.
    client_bits = config.client_max_window_bits or 15
    if _CLIENT_MWB in response:
        answered = response[_CLIENT_MWB] or 15
        if answered > client_bits:
            raise _Invalid(f"{_CLIENT_MWB}={answered} exceeds the offer")
        if answered == 8:
            raise _Invalid("zlib cannot compress with an 8-bit window")
        client_bits = answered

    return DeflateParams(
        server_no_context_takeover=_SERVER_NCT in response,
        # RFC 7692 7.1.1.2: the server may impose this even if we did not offer it.
        client_no_context_takeover=_CLIENT_NCT in response or config.client_no_context_takeover,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
    )


def client_accept(response: Extensions, config: DeflateConfig) -> DeflateParams | None:
    """Check the server's ``Sec-WebSocket-Extensions`` answer to :func:`client_offer`.

    Returns ``None`` when the server accepted no extension (no compression).
    Raises :class:`InvalidHandshake` (status 0) when the answer names an
    extension we did not offer (RFC 6455 9.1), accepts permessage-deflate more
    than once, or has parameters that are unknown, repeated, invalid or
    inconsistent with our offer (RFC 7692 5.1: the client MUST fail).
    """
    if not response:
        return None
    if len(response) > 1:
        raise InvalidHandshake(0, "more than one extension in the response")
    name, params = response[0]
    if name.lower() != EXTENSION_NAME:
        raise InvalidHandshake(0, f"unexpected extension {name!r}")
    try:
        return _check_response(_parse(params, is_offer=False), config)
    except _Invalid as exc:
        raise InvalidHandshake(0, f"invalid {EXTENSION_NAME} response: {exc}") from None


@attrs.define(slots=True, init=False)
class Deflater:
    """Compresses the messages we send, keeping the LZ77 context between them.

    One compressor is reused for the whole connection when context takeover
    applies to our side; with ``*_no_context_takeover`` a fresh one is made
    for each message (RFC 7692 7.1.1), which costs about 20 times more CPU
    for small messages.  Raises :class:`ValueError` for an 8-bit window on
    our side (never negotiated) or a level outside 0..9.
    """

    _wbits: int
    _level: int
    _reset: bool
    _compressor: zlib._Compress | None

    def __init__(self, params: DeflateParams, *, is_server: bool, level: int = 6) -> None:
        if is_server:
            wbits, reset = params.server_max_window_bits, params.server_no_context_takeover
        else:
            wbits, reset = params.client_max_window_bits, params.client_no_context_takeover
        if wbits == 8:
            raise ValueError("zlib cannot compress with an 8-bit window")
        if not 0 <= level <= 9:
            raise ValueError(f"level must be between 0 and 9, got {level}")
        self._wbits = wbits
        self._level = level
        self._reset = reset
        self._compressor = None

    def _new(self) -> zlib._Compress:
        # Negative wbits: raw deflate, no zlib header (RFC 7692 7.2.1).
        return zlib.compressobj(self._level, zlib.DEFLATED, -self._wbits, self._wbits - 7)

    def compress(self, payload: bytes) -> bytes:
        """Compress one whole message; the result is the payload to send with RSV1."""
        compressor = self._compressor or self._new()
        # RFC 7692 7.2.1: compress, flush to a byte boundary ending with an
        # empty stored block, then remove its 00 00 ff ff.
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(_TAIL):
            data = data[:-4]
        self._compressor = None if self._reset else compressor
        # RFC 7692 7.2.3.6: an empty message is sent as a single 00 octet.
        return data or b"\x00"


@attrs.define(slots=True, init=False)
class Inflater:
    """Decompresses the messages we receive, frame by frame, within a size limit."""

    _wbits: int
    _reset: bool
    _decompressor: zlib._Decompress

    def __init__(self, params: DeflateParams, *, is_server: bool) -> None:
        if is_server:
            wbits, reset = params.client_max_window_bits, params.client_no_context_takeover
        else:
            wbits, reset = params.server_max_window_bits, params.server_no_context_takeover
        self._wbits = wbits
        self._reset = reset
        # A peer that uses a larger window than agreed produces distances this
        # decompressor rejects: that is a payload error, as it should be.
        self._decompressor = zlib.decompressobj(-wbits)

    def decompress(self, data: bytes, final: bool, max_size: int | None) -> bytes:
        """Inflate one frame of a compressed message.

        ``final`` marks the message's last frame.  ``max_size`` is how many
        more bytes the message may inflate to (``None``: unbounded).  Output
        is capped at ``max_size + 1`` bytes while inflating, so a small frame
        that expands hugely raises :class:`PayloadTooBig` without building the
        expansion.  Data that does not inflate raises :class:`InvalidPayload`.
        """
        decompressor = self._decompressor
        if final:
            # RFC 7692 7.2.2: append 00 00 ff ff to the message before inflating.
            data = data + _TAIL
        try:
            if max_size is None:
                out = decompressor.decompress(data)
            else:
                if max_size < 0:
                    raise ValueError("max_size must be >= 0")
                # zlib reads max_length=0 as "no limit", hence the + 1.
                out = decompressor.decompress(data, max_size + 1)
                if len(out) > max_size:
                    raise PayloadTooBig(f"decompressed message over {max_size} bytes")
        except zlib.error:
            raise InvalidPayload("invalid compressed data") from None

        if decompressor.eof:
            # RFC 7692 7.2.3.4: a sender may end a message with a BFINAL block;
            # only our own appended tail may follow it.
            extra = decompressor.unused_data
            if final and extra.endswith(_TAIL):
                extra = extra[:-4]
            if extra:
                raise InvalidPayload("data after the end of the compressed stream")

        if final and (self._reset or decompressor.eof):
            # RFC 7692 7.1.1: the peer starts each message afresh; a BFINAL
            # block also ends the deflate stream, so the next one is new.
            self._decompressor = zlib.decompressobj(-self._wbits)
        return out


class DeflateCodec(NamedTuple):
    """What :class:`ws.protocol.Connection` takes as ``deflate=``: the compressor of the
    messages we send, the decompressor of those we receive, and the size below which
    a message is sent uncompressed (``DeflateConfig.compress_threshold``)."""

    deflater: Deflater
    inflater: Inflater
    threshold: int
