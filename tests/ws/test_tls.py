"""TLS: ``ws.serve(..., ssl=...)`` and ``ws.connect("wss://...", ssl=...)`` with a
certificate authority made in the test (``trustme``), and what untrusting or
hostile clients get."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest
import trustme

import ws
from tests.support import ZERO, echo_app, read_eof, running, scaled, settled, upgrade_request


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    return context


def wss(server: ws.Server, path: str = "/echo", host: str = "127.0.0.1") -> str:
    return f"wss://{host}:{server.port}{path}"


@pytest.mark.parametrize("compression", [True, False])
async def test_wss_text_and_binary_round_trip(server_context, client_context, compression: bool) -> None:
    async with running(echo_app(), ssl=server_context) as server:
        client = await ws.connect(wss(server), ssl=client_context, compression=compression)
        try:
            assert client.transport.get_extra_info("ssl_object") is not None
            (sock,) = server.websockets
            assert sock.transport.get_extra_info("peercert") is None  # no client certificate
            assert sock.transport.get_extra_info("sslcontext") is server_context
            await client.text("héllo over TLS")
            assert await asyncio.wait_for(client.recv(), scaled(3)) == "héllo over TLS"
            blob = bytes(range(256)) * 1024  # 256 KiB: many TLS records
            await client.data(blob)
            assert await asyncio.wait_for(client.recv(), scaled(3)) == blob
            big = "chess " * 50_000
            await client.text(big)
            assert await asyncio.wait_for(client.recv(), scaled(3)) == big
            assert ("permessage-deflate" in (client.extensions or "")) is compression
        finally:
            client.close()
            await asyncio.wait_for(client.wait_closed(), scaled(3))
        assert await settled(server) == ZERO


async def test_wss_by_host_name(server_context, client_context) -> None:
    async with running(echo_app(), ssl=server_context) as server:
        client = await ws.connect(wss(server, host="localhost"), ssl=client_context)
        await client.text("by name")
        assert await asyncio.wait_for(client.recv(), scaled(3)) == "by name"
        client.close()
        await asyncio.wait_for(client.wait_closed(), scaled(3))


async def test_a_client_that_does_not_trust_the_ca_fails_with_an_ssl_error(server_context, client_context) -> None:
    async with running(echo_app(), ssl=server_context) as server:
        # The system trust store does not know our CA.
        with pytest.raises(ssl.SSLError) as info:
            await ws.connect(wss(server), ssl=ssl.create_default_context(), open_timeout=scaled(3))
        assert isinstance(info.value, ssl.SSLCertVerificationError)
        # Nor does ssl=True (the default for wss://).
        with pytest.raises(ssl.SSLCertVerificationError):
            await ws.connect(wss(server), open_timeout=scaled(3))
        # Another CA's trust is no better.
        other = ssl.create_default_context()
        trustme.CA().configure_trust(other)
        with pytest.raises(ssl.SSLCertVerificationError):
            await ws.connect(wss(server), ssl=other, open_timeout=scaled(3))
        # The server is unharmed and still serves a client that trusts the CA.
        assert await settled(server) == ZERO
        client = await ws.connect(wss(server), ssl=client_context)
        await client.text("ok")
        assert await asyncio.wait_for(client.recv(), scaled(3)) == "ok"
        client.close()
        await asyncio.wait_for(client.wait_closed(), scaled(3))


async def test_a_certificate_for_another_host_fails(ca: trustme.CA, client_context) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("game.example").configure_cert(context)
    async with running(echo_app(), ssl=context) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="(?i)mismatch|match"):
            await ws.connect(wss(server), ssl=client_context, open_timeout=scaled(3))
        assert await settled(server) == ZERO


async def test_plain_http_and_garbage_on_the_tls_port_do_not_hurt_the_server(server_context, client_context) -> None:
    async with running(echo_app(), ssl=server_context) as server:
        for data in (upgrade_request("/echo"), b"\x16\x03\x01\x00\x05hello", bytes(range(256))):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                writer.write(data)
                await read_eof(reader, timeout=scaled(3))  # the TLS layer refuses and closes
            finally:
                writer.close()
        assert await settled(server) == ZERO
        client = await ws.connect(wss(server), ssl=client_context)
        await client.text("fine")
        assert await asyncio.wait_for(client.recv(), scaled(3)) == "fine"
        client.close()
        await asyncio.wait_for(client.wait_closed(), scaled(3))


async def test_a_silent_client_on_the_tls_port_is_dropped_after_the_handshake_timeout(server_context) -> None:
    # The TLS handshake is part of the opening handshake: a client that connects and
    # sends nothing must not hold a socket for asyncio's default 60 seconds.
    limits = ws.ServerLimits(handshake_timeout=0.5)
    async with running(echo_app(), ssl=server_context, limits=limits) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        try:
            await read_eof(reader, timeout=scaled(3))
        finally:
            writer.close()
        assert time.monotonic() - started < 2
        assert await settled(server) == ZERO
