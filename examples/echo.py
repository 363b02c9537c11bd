"""Echo every text and data message on any path: the conformance and benchmark target.

    python examples/echo.py --host 127.0.0.1 --port 9001 [--no-compression] [--uvloop]
"""

import argparse
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

    # Autobahn case 9.1.6 sends 16 MiB messages.  No keepalive pings: kosoku
    # ends a case that receives an unsolicited ping (the long 12.* cases run
    # past the default 20 s ping interval on a busy machine).
    @app.route("/{path:path}")
    @app.route("/")
    @ws.endpoint(compression=COMPRESSION if compression else None, max_message_size=32 * 2**20, ping_interval=None)
    async def echo(request, sock, path=""):
        async for msg in sock:
            if msg.is_text:
                await sock.text(msg)
            else:
                await sock.data(msg)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--no-compression", action="store_true", help="disable permessage-deflate")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop when it is installed")
    parser.add_argument("--max-connections", type=int, default=None,
                        help="raise the open-connection limits (total and per IP) to this")
    args = parser.parse_args()
    limits = None
    if args.max_connections is not None:
        limits = ws.ServerLimits(max_connections=args.max_connections, max_connections_per_ip=args.max_connections)
    ws.run(
        make_app(not args.no_compression), args.host, args.port, uvloop=args.uvloop, limits=limits,
        on_start=lambda server: print(f"echo server on ws://{args.host}:{server.port}/", flush=True),
    )


if __name__ == "__main__":
    main()
