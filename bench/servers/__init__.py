"""The benchmark's servers, one script each (run as ``python bench/servers/NAME.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import ws

__all__ = ["serve_ours"]


def serve_ours(make_app: Callable[[], ws.App], description: str) -> None:
    """The command line of our rooms and broadcast servers: ``--host``, ``--port``,
    ``--uvloop``, with the connection limits raised for thousands of clients."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop when it is installed")
    args = parser.parse_args()
    limits = ws.ServerLimits(max_connections=20_000, max_connections_per_ip=20_000)
    ws.run(make_app(), args.host, args.port, uvloop=args.uvloop, limits=limits)
