"""Health probes: ``/healthz`` (the process serves) and ``/readyz`` (it takes new
connections), for Kubernetes probes and load balancers.

Readiness asks the server and the routes: not ready while the server is
closing, nor while a route handler that has a ``ready()`` method says False
(a ``rooms.Lobby`` whose backend cannot reach Redis, say).  The answers are
small JSON objects, 200 when all is well and 503 otherwise, so a probe needs
only the status and an operator can read why.
"""

from __future__ import annotations

from typing import Any

from .http import Request, Response

__all__ = ["healthz", "readyz"]


async def healthz(request: Request) -> Response:
    """200 ``{"status": "ok"}`` whenever the process answers at all."""
    return Response.json({"status": "ok"})


def _name(handler: Any) -> str:
    return str(getattr(handler, "name", None) or getattr(handler, "__name__", None) or type(handler).__name__)


async def readyz(request: Request) -> Response:
    """200 ``{"ready": true}``, or 503 with ``closing`` (the server shuts down) and
    ``unready`` (the names of the route handlers whose ``ready()`` is False)."""
    server = request.server
    closing = bool(getattr(server, "closing", False))
    app = getattr(server, "app", None)
    handlers = app.router.handlers() if app is not None else []
    unready = sorted(_name(h) for h in handlers if callable(getattr(h, "ready", None)) and not h.ready())
    ready = not closing and not unready
    body: dict[str, Any] = {"ready": ready}
    if not ready:
        body.update(closing=closing, unready=unready)
    return Response.json(body, status=200 if ready else 503)
