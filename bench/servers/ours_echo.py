"""Echo server on this project, for ``bench``: as a user would write it, with the
default options (keepalive pings every 20 s, as websockets' and aiohttp's defaults
have them too; permessage-deflate only when the client offers it, and the bench
client does not).

    python bench/servers/ours_echo.py --host 127.0.0.1 --port 8765 [--uvloop] [--max-connections N]

(examples/echo.py is the conformance target: it compresses every message and sends no
pings, for the Autobahn runner.)
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import ws  # noqa: E402

MAX_SIZE = 16 * 1024 * 1024


def make_app() -> ws.App:
    app = ws.App()

    @app.route("/{path:path}")
    @app.route("/")
    @ws.endpoint(max_message_size=MAX_SIZE)
    async def echo(request: ws.Request, sock: ws.WebSocket, path: str = "") -> None:
        async for msg in sock:
            await sock.send(msg)

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop when it is installed")
    parser.add_argument("--max-connections", type=int, default=None,
                        help="raise the open-connection limits (total and per IP) to this")
    args = parser.parse_args()
    limits = None
    if args.max_connections is not None:
        limits = ws.ServerLimits(max_connections=args.max_connections, max_connections_per_ip=args.max_connections)
    ws.run(make_app(), args.host, args.port, uvloop=args.uvloop, limits=limits)
