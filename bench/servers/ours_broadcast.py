"""Broadcast server on this project, for ``bench``: every text message a client sends
goes to every connected client (the sender included) with :func:`ws.broadcast`,
which serialises the frame once and writes the same bytes to every transport.

    python bench/servers/ours_broadcast.py --host 127.0.0.1 --port 8765 [--uvloop]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import ws  # noqa: E402


def make_app() -> ws.App:
    app = ws.App()
    clients: set[ws.WebSocket] = set()

    @app.route("/{path:path}")
    @app.route("/")
    @ws.endpoint(compression=None)
    async def hub(request: ws.Request, sock: ws.WebSocket, path: str = "") -> None:
        clients.add(sock)
        try:
            async for msg in sock:
                ws.broadcast(clients, msg)
        finally:
            clients.discard(sock)

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop when it is installed")
    args = parser.parse_args()
    limits = ws.ServerLimits(max_connections=20_000, max_connections_per_ip=20_000)
    ws.run(make_app(), args.host, args.port, uvloop=args.uvloop, limits=limits)
