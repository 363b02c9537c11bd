"""Broadcast server on ``aiohttp``, a peer for ``bench``: every message a client sends
goes to every connected client, the way aiohttp's documentation does it (a set of
``WebSocketResponse`` and ``await ws.send_str`` for each)."""

from __future__ import annotations

import argparse

from aiohttp import WSMsgType, web

CLIENTS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("clients", set)


async def hub(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    clients = request.app[CLIENTS]
    clients.add(ws)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                for other in list(clients):
                    if not other.closed:
                        await other.send_str(msg.data)
    finally:
        clients.discard(ws)
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app[CLIENTS] = set()
    app.router.add_get("/{tail:.*}", hub)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)
