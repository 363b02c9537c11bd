"""Echo every text and data message on any path: the conformance and benchmark target.

    python examples/echo.py --host 127.0.0.1 --port 9001 [--no-compression]
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ws  # noqa: E402


# Compress every message, however short: RFC 7692 lets a sender skip small ones
# (ws's default threshold is 128 bytes), but the kosoku runner of the Autobahn
# cases mishandles uncompressed text on a compressed connection.
COMPRESSION = ws.DeflateConfig(compress_threshold=0)


def make_app(compression: bool = True) -> ws.App:
    app = ws.App()

    # Autobahn case 9.1.6 sends 16 MiB messages.
    @app.route("/{path:path}")
    @app.route("/")
    @ws.endpoint(compression=COMPRESSION if compression else None, max_message_size=32 * 2**20)
    async def echo(request, sock, path=""):
        async for msg in sock:
            if msg.is_text:
                await sock.text(msg)
            else:
                await sock.data(msg)

    return app


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--no-compression", action="store_true", help="disable permessage-deflate")
    args = parser.parse_args()
    server = await ws.serve(make_app(not args.no_compression), args.host, args.port)
    print(f"echo server on ws://{args.host}:{server.port}/", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
