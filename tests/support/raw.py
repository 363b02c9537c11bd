"""Raw-socket clients for the hostile, limit, TLS and soak tests: hand-written
requests and frames, and readers that stop at a bound."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

import ws

from .server import url
from .timing import scaled

__all__ = [
    "close_payload",
    "frame",
    "open_raw",
    "read_close_code",
    "read_eof",
    "read_frame",
    "read_head",
    "reset",
    "status_of",
    "still_serves",
    "upgrade_request",
]


def upgrade_request(
    path: str = "/echo",
    *extra: str,
    host: str = "127.0.0.1",
    method: str = "GET",
    version: str | None = "13",
    key: bool = True,
    upgrade: bool = True,
) -> bytes:
    """An opening handshake request; *key*, *upgrade* and *version* (None) can be left out."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade"]
    if key:
        lines.append("Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode())
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    """One client frame, masked unless told otherwise (RFC 6455 5.2)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
    return head + key + masked


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


async def open_raw(
    server: ws.Server, path: str = "/echo", *extra: str, local_host: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP client that completes the opening handshake by hand."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, local_addr=(local_host, 0) if local_host else None
    )
    writer.write(upgrade_request(path, *extra))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(3))
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


async def read_frame(reader: asyncio.StreamReader, timeout: float = scaled(3)) -> tuple[int, bytes]:
    """One server frame: (first byte, payload).  Server frames are never masked."""
    async with asyncio.timeout(timeout):
        b0, b1 = await reader.readexactly(2)
        assert b1 & 0x80 == 0, "a server frame was masked"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        return b0, await reader.readexactly(n)


async def read_close_code(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None, timeout: float = scaled(3)
) -> int | None:
    """Skip data frames until the server's close frame; return its code (None if empty).
    With *writer*, answer the close as a good client does (RFC 6455 5.5.1); then
    expect the server to drop the TCP connection."""
    async with asyncio.timeout(timeout):
        while True:
            b0, payload = await read_frame(reader)
            if b0 & 0x0F == 0x8:
                break
        if writer is not None and not writer.is_closing():
            writer.write(frame(0x8, payload[:2]))
        await read_eof(reader)
    return struct.unpack("!H", payload[:2])[0] if payload else None


async def read_eof(reader: asyncio.StreamReader, timeout: float = scaled(3)) -> bytes:
    """Everything the server still sends, until it closes (FIN or RST)."""
    chunks = []
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


async def read_head(reader: asyncio.StreamReader, timeout: float = scaled(3)) -> bytes:
    """The response head (or whatever came before the server closed)."""
    data = b""
    try:
        async with asyncio.timeout(timeout):
            while b"\r\n\r\n" not in data:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
    except ConnectionResetError:
        pass
    return data


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


def reset(writer: asyncio.StreamWriter) -> None:
    """Abort with a TCP RST rather than a FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def still_serves(server: ws.Server, path: str = "/echo") -> None:
    """A well-behaved client still gets its echo."""
    client = await ws.connect(url(server, path), open_timeout=scaled(3))
    try:
        await client.text("still alive")
        assert await asyncio.wait_for(client.recv(), scaled(3)) == "still alive"
        await client.data(b"\x00\xff")
        assert await asyncio.wait_for(client.recv(), scaled(3)) == b"\x00\xff"
    finally:
        client.close()
        await asyncio.wait_for(client.wait_closed(), scaled(3))
