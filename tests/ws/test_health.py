"""``App.mount_health``: ``/healthz`` and ``/readyz`` under ``ws.serve`` and under ``ws.asgi``."""

from __future__ import annotations

import json

import pytest

import ws
from tests.support import http_get, running


class Flaky:
    """A route handler with a readiness of its own."""

    name = "flaky"

    def __init__(self) -> None:
        self.ok = True

    def ready(self) -> bool:
        return self.ok

    async def __call__(self, request):
        return "here"


def health_app() -> tuple[ws.App, Flaky]:
    app = ws.App()
    flaky = Flaky()
    app.route("/flaky")(flaky)
    app.mount_health()
    return app, flaky


async def test_healthz_and_readyz_under_ws_serve() -> None:
    app, flaky = health_app()
    async with running(app) as server:
        assert await http_get(server, "/healthz") == (200, b'{"status":"ok"}')
        assert await http_get(server, "/readyz") == (200, b'{"ready":true}')
        flaky.ok = False
        status, body = await http_get(server, "/readyz")
        assert status == 503 and json.loads(body) == {"ready": False, "closing": False, "unready": ["flaky"]}
        assert (await http_get(server, "/healthz"))[0] == 200


async def test_readyz_under_asgi_is_503_once_the_app_shuts_down() -> None:
    pytest.importorskip("uvicorn")
    from tests.support.asgi import uvicorn_running

    app, _ = health_app()
    served = ws.asgi(app)
    async with uvicorn_running(served) as server:
        assert await http_get(server, "/readyz") == (200, b'{"ready":true}')
        await served.shutdown()
        status, body = await http_get(server, "/readyz")
        assert status == 503 and json.loads(body) == {"ready": False, "closing": True, "unready": []}
        assert (await http_get(server, "/healthz"))[0] == 200


def test_custom_paths() -> None:
    app = ws.App()
    app.mount_health("/live", "/ready")
    assert app.router.resolve("GET", "/live")[0] is not None
    assert app.router.resolve("HEAD", "/ready")[0] is not None
