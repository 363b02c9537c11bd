"""Echo server on ``aiohttp`` (``web.WebSocketResponse``), a peer for ``bench.echo``.

Compression is disabled (``compress=False``) so that every server in the comparison
does the same work; ``max_msg_size`` admits the 64 KiB binary scenario.
"""

from __future__ import annotations

import argparse

from aiohttp import WSMsgType, web

MAX_SIZE = 16 * 1024 * 1024


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Upgrade any path and send every message back with its own type."""
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_SIZE)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)
