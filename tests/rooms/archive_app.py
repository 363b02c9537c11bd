"""A server process for the archive's kill -9 test: ``python -m tests.rooms.archive_app
--archive URL --spool PATH``.  One lobby at ``/game`` (tests.rooms.archive_helpers:
whoever sends ``"win"`` first wins), rated, archived at URL.  It starts its
archive at boot, so what a killed predecessor left in the spool is written
without waiting for a player; prints ``READY <port>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio

import rooms
import ws
from tests.rooms.archive_helpers import game_app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", required=True)
    parser.add_argument("--spool", required=True)
    args = parser.parse_args()
    archive = rooms.Archive(args.archive, spool=args.spool, timeout=0.5, retry=0.05, max_retry=0.5)
    app, _ = game_app(archive=archive, ratings=True, bands=rooms.Bands(band=5000))
    await archive.start()
    server = await ws.serve(app, "127.0.0.1", 0)
    print(f"READY {server.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
