"""How game messages travel: JSON in text frames, msgpack in binary frames.

Decoding never raises anything but :class:`DecodeError`, so a bad payload from
a client becomes an error reply, never a crashed room.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import msgpack

from .exceptions import DecodeError

if TYPE_CHECKING:
    import ws

__all__ = ["encode_text", "encode_data", "decode"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# A \uD800-\uDFFF escape: json.loads turns an unpaired one into a lone surrogate,
# which no text frame can carry (RFC 6455 5.6: text is UTF-8), so echoing it
# would crash the game.  Only texts with such an escape get the full check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def encode_text(obj: Any) -> str:
    """JSON for a text frame (compact, UTF-8)."""
    return _dumps(obj)


def encode_data(obj: Any) -> bytes:
    """msgpack for a binary frame."""
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def decode(message: str | bytes | ws.Message) -> Any:
    """Decode a text (JSON) or binary (msgpack) message; :class:`DecodeError` if it won't."""
    try:
        if isinstance(message, str):
            obj = json.loads(message)
            if _SURROGATE_ESCAPE.search(message) is not None:
                _dumps(obj).encode()  # UnicodeEncodeError (a ValueError) on a lone surrogate
            return obj
        return msgpack.unpackb(message, raw=False, strict_map_key=False)  # (a Message is str or bytes)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, RecursionError) as exc:
        kind = "JSON" if isinstance(message, str) else "msgpack"
        raise DecodeError(f"message is not valid {kind}: {exc}") from None
