"""The demo server started by ``make run``: an echo endpoint, a two-player relay
built on ``ws.aggregate``, and a page to try both from a browser.

    python -m examples.server --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib

import ws

STATIC = pathlib.Path(__file__).parent / "static"


def make_app() -> ws.App:
    app = ws.App()

    @app.route("/")
    async def index(request):
        return ws.Response.file(STATIC / "index.html")

    @app.route("/echo")
    @ws.endpoint
    async def echo(request, sock):
        async for msg in sock:
            await sock.send(msg)

    @app.route("/duel/{arena}")
    @ws.aggregate(2)
    async def duel(request, socks, arena):
        """Relay every message of one player to the other, until one leaves."""
        a, b = socks
        ws.broadcast(socks, f"matched in arena {arena}")
        async for sock, msg in ws.mux(a, b):
            other = b if sock is a else a
            await other.send(msg)

    return app


async def main() -> None:
    parser = argparse.ArgumentParser(description="ws demo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    server = await ws.serve(make_app(), args.host, args.port)
    print(f"Demo server on http://{args.host}:{server.port}/  (Ctrl-C to stop)", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
