"""Broadcast server on ``websockets``, a peer for ``bench``: every message a client
sends goes to every connected client with ``websockets.asyncio.server.broadcast``
(which, like ours, encodes the frame once)."""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def hub(connection: ServerConnection) -> None:
    CLIENTS.add(connection)
    try:
        async for message in connection:
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(connection)


async def main(host: str, port: int) -> None:
    async with serve(hub, host, port, compression=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
