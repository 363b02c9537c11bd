"""Echo server on ``websockets`` (asyncio implementation), a peer for ``bench.echo``.

Compression is disabled so that every server in the comparison does the same work;
``max_size`` admits the 64 KiB binary scenario with room to spare.
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, serve

MAX_SIZE = 16 * 1024 * 1024


async def echo(connection: ServerConnection) -> None:
    """Send every message back as it came: text as text, binary as binary."""
    async for message in connection:
        await connection.send(message)


async def main(host: str, port: int) -> None:
    async with serve(echo, host, port, compression=None, max_size=MAX_SIZE) as server:
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
