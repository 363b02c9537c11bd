"""``ws.asgi`` under a real uvicorn in this process: HTTP routes and static files
answer as under ``ws.serve``, WebSocket refusals keep their status, paths and
the scope when mounted in Starlette or behind ``--root-path``, the lifespan,
``aggregate`` and a lobby game with a reconnect and a spectator."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

import rooms
import ws
from examples import tictactoe
from tests.support import TIMEOUT, eventually, url
from tests.support.asgi import hypercorn_running, uvicorn_running

from .helpers import http, play_tictactoe

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

ZERO = {"http_connections": 0, "websockets": 0, "tasks": 0}
# uvicorn's --ws choices (the legacy "websockets" one warns that it is deprecated)
IMPLEMENTATIONS = ["websockets-sansio", "wsproto", pytest.param("websockets", marks=[pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")])]


def http_app(static_dir: pathlib.Path) -> ws.App:
    app = ws.App()

    @app.route("/text")
    async def text(request):
        return "hello"

    @app.route("/json")
    async def as_json(request):
        return {"path": request.path, "query": request.query_all, "target": request.target}

    @app.route("/empty")
    async def empty(request):
        return None

    @app.route("/bytes")
    async def raw(request):
        return b"\x00\x01"

    @app.route("/teapot")
    async def teapot(request):
        raise ws.HTTPError(418, "short and stout", headers=[("X-Tea", "earl grey")])

    @app.route("/boom")
    async def boom(request):
        raise RuntimeError("a bug")

    @app.route("/echo-body", methods=["POST"])
    async def echo_body(request):
        return ws.Response(201, request.body, [("Content-Type", "application/octet-stream")])

    @app.route("/user/{id:int}")
    async def user(request, id):
        return {"id": id, "server": type(request.server).__name__, "scope": request.scope["type"]}

    app.mount_static("/static", static_dir)
    return app


async def test_http_routes_answer_as_under_ws_serve(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("file a")
    (tmp_path / "index.html").write_text("<p>index</p>")
    served = ws.asgi(http_app(tmp_path), limits=ws.ServerLimits(max_body=16))
    async with uvicorn_running(served) as server:
        assert (await http(server, "GET", "/text")).body == b"hello"
        reply = await http(server, "GET", "/json?a=1&a=2&b=%20")
        assert reply.status == 200 and reply.headers["content-type"] == "application/json"
        assert reply.body == b'{"path":"/json","query":{"a":["1","2"],"b":[" "]},"target":"/json?a=1&a=2&b=%20"}'
        assert (await http(server, "GET", "/empty")).status == 204
        reply = await http(server, "GET", "/bytes")
        assert reply.body == b"\x00\x01" and reply.headers["content-type"] == "application/octet-stream"
        reply = await http(server, "GET", "/teapot")
        assert reply.status == 418 and reply.headers["x-tea"] == "earl grey" and b"short and stout" in reply.body
        assert (await http(server, "GET", "/boom")).status == 500
        assert (await http(server, "GET", "/nowhere")).status == 404
        reply = await http(server, "GET", "/echo-body")
        assert reply.status == 405 and reply.headers["allow"] == "POST"
        reply = await http(server, "POST", "/echo-body", body=b"0123456789")
        assert reply.status == 201 and reply.body == b"0123456789"
        assert (await http(server, "POST", "/echo-body", body=b"x" * 17)).status == 413
        reply = await http(server, "HEAD", "/text")
        assert reply.status == 200 and reply.headers["content-length"] == "5" and reply.body == b""
        assert (await http(server, "GET", "/user/7")).body == b'{"id":7,"server":"ASGIServer","scope":"http"}'
        assert (await http(server, "GET", "/static/a.txt")).body == b"file a"
        assert (await http(server, "GET", "/static/")).body == b"<p>index</p>"
        assert (await http(server, "GET", "/static/../a.txt")).status == 404
        assert (await http(server, "GET", "/static/missing")).status == 404
    assert served.server.statistics() == ZERO


def refusing_app() -> ws.App:
    app = ws.App()

    @app.route("/only-example")
    @ws.endpoint(origins=["https://example.com"])
    async def only_example(request, sock):
        await sock.text("welcome")

    @app.route("/auth")
    async def auth(request):
        if request.headers.get("Authorization") != "Bearer ok":
            raise ws.HTTPError(401, "who are you", headers=[("WWW-Authenticate", "Bearer")])
        sock = ws.accept(request)
        await sock.text("in")
        await sock.close()

    @app.route("/plain")
    async def plain(request):
        return "just HTTP"

    @app.route("/post-only", methods=["POST"])
    @ws.endpoint
    async def post_only(request, sock):
        pass

    return app


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_refusals_before_the_upgrade_keep_their_status(impl, capfd) -> None:
    async with uvicorn_running(ws.asgi(refusing_app()), ws=impl) as server:

        async def status(path, **kwargs):
            with pytest.raises(ws.InvalidHandshake) as info:
                await asyncio.wait_for(ws.connect(url(server, path), **kwargs), TIMEOUT)
            return info.value.status

        assert await status("/nowhere") == 404
        assert await status("/only-example", origin="https://evil.example") == 403
        assert await status("/auth") == 401
        assert await status("/post-only") == 405
        sock = await ws.connect(url(server, "/only-example"), origin="https://example.com")
        assert await asyncio.wait_for(sock.recv(), TIMEOUT) == "welcome"
        await sock.wait_closed()
        sock = await ws.connect(url(server, "/auth"), extra_headers=[("Authorization", "Bearer ok")])
        assert await asyncio.wait_for(sock.recv(), TIMEOUT) == "in"
        with pytest.raises(ws.Closed) as closed:
            await asyncio.wait_for(sock.recv(), TIMEOUT)
        assert closed.value.code == 1000
        # a plain GET of a WebSocket endpoint: 400, as ws.serve answers it
        assert (await http(server, "GET", "/only-example")).status == 400
        assert (await http(server, "GET", "/plain")).body == b"just HTTP"
    # a refusal is not an error of the application (uvicorn's default implementation
    # logs one for an application that returns before it has seen the disconnect)
    assert "ASGI callable returned" not in capfd.readouterr().err


def scope_app(seen: list[ws.Request]) -> ws.App:
    app = ws.App()

    @app.route("/where/{rest:path}")
    @ws.endpoint
    async def where(request, sock, rest):
        seen.append(request)
        await sock.text(request.path)

    @app.route("/hello")
    async def hello(request):
        return {"path": request.path, "root": request.scope["root_path"], "session": request.scope.get("session")}

    return app


async def test_mounted_in_starlette_the_routes_see_paths_below_the_mount() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.routing import Mount, Route
    from starlette.responses import PlainTextResponse

    seen: list[ws.Request] = []
    games = ws.asgi(scope_app(seen))

    async def login(request):
        request.session["user"] = "alice"
        return PlainTextResponse("ok")

    host = Starlette(
        routes=[Route("/login", login), Mount("/games", app=games)],
        middleware=[Middleware(SessionMiddleware, secret_key="k" * 32)],
        lifespan=games.lifespan,
    )
    async with uvicorn_running(host) as server:
        cookie = (await http(server, "GET", "/login")).headers["set-cookie"].split(";")[0]
        reply = await http(server, "GET", "/games/hello", headers=[("Cookie", cookie)])
        assert reply.body == b'{"path":"/hello","root":"/games","session":{"user":"alice"}}'
        sock = await ws.connect(url(server, "/games/where/a%20b/c?x=1"), extra_headers=[("Cookie", cookie)])
        assert await asyncio.wait_for(sock.recv(), TIMEOUT) == "/where/a b/c"
        await sock.wait_closed()
        (request,) = seen
        assert request.params == {"rest": "a b/c"} and request.query == {"x": "1"}
        assert request.target == "/games/where/a%20b/c?x=1"
        assert request.scope["session"] == {"user": "alice"} and request.scope["root_path"] == "/games"
        assert request.server is games.server and request.peer[0] == "127.0.0.1"
        assert (await http(server, "GET", "/games/nowhere")).status == 404
    assert games.server.closing and games.server.statistics() == ZERO


async def test_behind_a_proxy_with_uvicorns_root_path() -> None:
    seen: list[ws.Request] = []
    async with uvicorn_running(ws.asgi(scope_app(seen)), root_path="/prefix") as server:
        # the proxy strips /prefix; uvicorn puts it back in scope["path"] and root_path
        sock = await ws.connect(url(server, "/where/x"))
        assert await asyncio.wait_for(sock.recv(), TIMEOUT) == "/where/x"
        await sock.wait_closed()
        assert seen[0].target == "/prefix/where/x" and seen[0].scope["root_path"] == "/prefix"


class Startable:
    """A route handler with a startup hook, like rooms.Lobby."""

    def __init__(self) -> None:
        self.started: list[ws.ASGIServer] = []
        self.handler = ws.endpoint(self.serve)

    async def startup(self, server) -> None:
        self.started.append(server)

    async def serve(self, request, sock) -> None:
        request.server.spawn(self.background(sock))
        async for _ in sock:  # until the socket closes (shutdown: 1001)
            pass

    async def background(self, sock) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sock.text("cancelled first")  # spawned work is cancelled while the socket is open
            raise

    async def __call__(self, request, **params):
        return await self.handler(request, **params)


async def test_lifespan_starts_handlers_and_shutdown_closes_with_1001() -> None:
    startable = Startable()
    app = ws.App()
    app.route("/hold")(startable)
    served = ws.asgi(app)
    assert served.server is None
    async with uvicorn_running(served) as server:
        assert startable.started == [served.server]
        sock = await ws.connect(url(server, "/hold"))
        await eventually(lambda: len(served.server.websockets) == 1, TIMEOUT)
        await asyncio.wait_for(served.shutdown(), TIMEOUT)
        assert await asyncio.wait_for(sock.recv(), TIMEOUT) == "cancelled first"
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(sock.recv(), TIMEOUT)
        assert info.value.code == 1001 and info.value.reason == "server shutting down"
        assert served.server.statistics() == ZERO
        # a new connection to a server that is shutting down is refused
        with pytest.raises(ws.InvalidHandshake) as refused:
            await asyncio.wait_for(ws.connect(url(server, "/hold")), TIMEOUT)
        assert refused.value.status == 503
    first = served.server
    # served again, it starts a new run
    async with uvicorn_running(served):
        assert served.server is not first and startable.started == [first, served.server]


async def test_aggregate_and_a_handler_that_keeps_its_socket() -> None:
    app = ws.App()
    kept: list[ws.ASGISocket] = []

    @app.route("/pair")
    @ws.aggregate(2)
    async def pair(request, socks):
        for i, sock in enumerate(socks):
            await sock.text(f"you are {i} of {len(socks)}")
        a, b = socks
        b.text(str(await a))

    @app.route("/keep")
    async def keep(request):
        kept.append(ws.accept(request))  # returns with the socket open: it lives on

    served = ws.asgi(app)
    async with uvicorn_running(served) as server:
        a = await ws.connect(url(server, "/pair"))
        await eventually(lambda: pair.waiting() == {"/pair": 1}, TIMEOUT)
        b = await ws.connect(url(server, "/pair"))
        assert await asyncio.wait_for(a.recv(), TIMEOUT) == "you are 0 of 2"
        assert await asyncio.wait_for(b.recv(), TIMEOUT) == "you are 1 of 2"
        a.text("relayed")
        assert await asyncio.wait_for(b.recv(), TIMEOUT) == "relayed"
        for sock in (a, b):
            await asyncio.wait_for(sock.wait_closed(), TIMEOUT)
            assert sock.close_code == 1000

        c = await ws.connect(url(server, "/keep"))
        await eventually(lambda: len(kept) == 1, TIMEOUT)
        await asyncio.sleep(0.1)  # a while after its handler returned: what the test is about
        kept[0].text("still here")
        assert await asyncio.wait_for(c.recv(), TIMEOUT) == "still here"
        kept[0].close(4321, "later")
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(c.recv(), TIMEOUT)
        assert info.value.code == 4321 and info.value.reason == "later"
    assert served.server.statistics() == ZERO


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_a_message_over_max_message_size_closes_1009(impl) -> None:
    app = ws.App()

    @app.route("/small")
    @ws.endpoint(max_message_size=10)
    async def small(request, sock):
        async for msg in sock:
            await sock.send(msg)

    async with uvicorn_running(ws.asgi(app), ws=impl) as server:
        sock = await ws.connect(url(server, "/small"))
        sock.text("0123456789")
        assert await asyncio.wait_for(sock.recv(), TIMEOUT) == "0123456789"
        sock.text("é" * 6)  # 6 characters, 12 bytes
        with pytest.raises(ws.Closed) as info:
            await asyncio.wait_for(sock.recv(), TIMEOUT)
        assert info.value.code == 1009


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_a_lobby_game_with_a_reconnect_and_a_spectator(impl) -> None:
    lobby = rooms.Lobby(2, tictactoe.tictactoe.game, reconnect=10)
    app = ws.App()
    app.route("/ttt")(lobby)
    served = ws.asgi(app)
    async with uvicorn_running(served, ws=impl) as server:
        result = await play_tictactoe([server], "/ttt", {"alice": [], "bob": [], "carol": []}, names_in_query=True)
        assert result["winner"] == 0 and lobby.results[-1][1] == result
        assert lobby.rooms == []
    assert served.server.statistics() == ZERO


async def test_shutdown_cancels_handlers_that_do_not_end_after_shutdown_timeout() -> None:
    app = ws.App()
    cancelled: list[str] = []

    @app.route("/slow")
    async def slow(request):
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("http")
            raise

    @app.route("/deaf")
    @ws.endpoint
    async def deaf(request, sock):
        try:
            await asyncio.Event().wait()  # never reads: the close does not reach it
        except asyncio.CancelledError:
            cancelled.append("websocket")
            raise

    served = ws.asgi(app, limits=ws.ServerLimits(shutdown_timeout=0.3))
    async with uvicorn_running(served) as server:
        pending = asyncio.ensure_future(http(server, "GET", "/slow"))
        sock = await ws.connect(url(server, "/deaf"))
        await eventually(lambda: served.server.statistics()["tasks"] >= 4, TIMEOUT)
        await asyncio.wait_for(served.shutdown(), TIMEOUT)
        assert sorted(cancelled) == ["http", "websocket"]
        assert (await asyncio.wait_for(pending, TIMEOUT)).status == 503
        await asyncio.wait_for(sock.wait_closed(), TIMEOUT)
        assert sock.close_code == 1001
        assert served.server.statistics() == ZERO


async def test_a_connection_the_asgi_server_cancels_is_closed_with_1001_first() -> None:
    """hypercorn cancels the connections still open after its graceful timeout: the
    lobby's players get 1001 (as from a ws.Server), not the 1000 with which a
    cancelled lobby handler closes its socket."""
    pytest.importorskip("hypercorn")

    async def game(room):
        await asyncio.Event().wait()

    app = ws.App()
    app.route("/game")(rooms.Lobby(2, game))
    served = ws.asgi(app)
    async with hypercorn_running(served, graceful_timeout=0.2) as server:
        players = [await ws.connect(url(server, "/game")) for _ in range(2)]
        await eventually(lambda: len(served.server.websockets) == 2, TIMEOUT)
    for player in players:
        with pytest.raises(ws.Closed) as info:
            async with asyncio.timeout(TIMEOUT):
                async for _ in player:
                    pass
        assert (info.value.code, info.value.reason) == (1001, "going away")
    assert served.server.closing and served.server.statistics() == ZERO
