"""Broadcast server on ``picows`` (Cython), a peer for ``bench``: every text frame a
client sends is sent to every connected transport with ``transport.send``."""

from __future__ import annotations

import argparse
import asyncio

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

CLIENTS: set[WSTransport] = set()


class Hub(WSListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        CLIENTS.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        CLIENTS.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type is WSMsgType.CLOSE:
            CLIENTS.discard(transport)
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif msg_type is WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            for client in tuple(CLIENTS):  # a send may drop a client
                client.send(WSMsgType.TEXT, payload)


def listener_factory(request: WSUpgradeRequest) -> WSListener:
    return Hub()


async def main(host: str, port: int) -> None:
    server = await ws_create_server(listener_factory, host, port)
    async with server:
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
