"""Broadcast server on this project, for ``bench``: every text message a client sends
goes to every connected client (the sender included) with :func:`ws.broadcast`,
which serialises the frame once and writes the same bytes to every transport.

    python bench/servers/ours_broadcast.py --host 127.0.0.1 --port 8765 [--uvloop]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import ws  # noqa: E402
from bench.servers import serve_ours  # noqa: E402


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
    serve_ours(make_app, __doc__.splitlines()[0])
