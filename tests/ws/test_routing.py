"""Tests for ws.routing: Router patterns, methods, errors, and the App decorators."""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from ws.exceptions import HTTPError
from ws.http import Request, Response
from ws.http11 import Headers, RequestHead
from ws.routing import App, Router


async def home(request: Request) -> str:
    return "home"


async def duel(request: Request, arena: str) -> str:
    return arena


async def user(request: Request, id: int) -> int:
    return id


async def files(request: Request, path: str) -> str:
    return path


def refused(router: Router, method: str, path: str) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        router.resolve(method, path)
    return info.value


@pytest.fixture
def router() -> Router:
    router = Router()
    router.add("/", home)
    router.add("/duel/{arena}", duel)
    router.add("/u/{id:int}", user)
    router.add("/static/{path:path}", files)
    return router


def test_static_route(router: Router) -> None:
    assert router.resolve("GET", "/") == (home, {})


def test_segment_parameter(router: Router) -> None:
    assert router.resolve("GET", "/duel/north") == (duel, {"arena": "north"})
    assert router.resolve("GET", "/duel/a.b-c") == (duel, {"arena": "a.b-c"})
    assert refused(router, "GET", "/duel/").status == 404
    assert refused(router, "GET", "/duel/a/b").status == 404
    assert refused(router, "GET", "/duel").status == 404


def test_int_parameter_is_converted(router: Router) -> None:
    handler, params = router.resolve("GET", "/u/0042")
    assert handler is user and params == {"id": 42} and type(params["id"]) is int
    assert refused(router, "GET", "/u/abc").status == 404
    assert refused(router, "GET", "/u/-1").status == 404
    assert refused(router, "GET", "/u/1.5").status == 404


def test_int_parameter_too_long_for_int_is_404_not_a_crash(router: Router) -> None:
    assert refused(router, "GET", "/u/" + "9" * 5000).status == 404


def test_path_parameter_spans_slashes(router: Router) -> None:
    assert router.resolve("GET", "/static/css/main.css") == (files, {"path": "css/main.css"})
    assert router.resolve("GET", "/static/") == (files, {"path": ""})
    assert refused(router, "GET", "/static").status == 404


def test_literal_parts_are_not_regexes() -> None:
    router = Router()
    router.add("/a.b/{x}", duel)
    assert router.resolve("GET", "/a.b/1") == (duel, {"x": "1"})
    assert refused(router, "GET", "/aXb/1").status == 404


def test_several_parameters() -> None:
    router = Router()
    router.add("/g/{game}/seat/{seat:int}/{rest:path}", files)
    assert router.resolve("GET", "/g/chess/seat/2/a/b") == (files, {"game": "chess", "seat": 2, "rest": "a/b"})


def test_unknown_path_is_404(router: Router) -> None:
    exc = refused(router, "GET", "/nowhere")
    assert exc.status == 404


def test_default_methods_are_get_and_head(router: Router) -> None:
    assert router.resolve("HEAD", "/duel/x") == (duel, {"arena": "x"})
    exc = refused(router, "POST", "/duel/x")
    assert exc.status == 405
    assert exc.headers == [("Allow", "GET, HEAD")]


def test_explicit_methods_and_allow_header() -> None:
    router = Router()
    router.add("/move", home, methods=["post"])
    router.add("/move", duel, methods=["PUT", "GET"])
    assert router.resolve("POST", "/move") == (home, {})
    assert router.resolve("PUT", "/move") == (duel, {})
    assert router.resolve("HEAD", "/move") == (duel, {})  # HEAD follows GET
    exc = refused(router, "DELETE", "/move")
    assert exc.status == 405
    assert exc.headers == [("Allow", "GET, HEAD, POST, PUT")]


def test_head_is_not_allowed_without_get() -> None:
    router = Router()
    router.add("/only-post", home, methods=["POST"])
    exc = refused(router, "HEAD", "/only-post")
    assert (exc.status, exc.headers) == (405, [("Allow", "POST")])


def test_methods_are_case_sensitive_on_the_wire(router: Router) -> None:
    assert refused(router, "get", "/").status == 405


def test_405_allow_collects_static_and_dynamic_matches() -> None:
    router = Router()
    router.add("/u/me", home, methods=["GET"])
    router.add("/u/{name}", duel, methods=["POST"])
    exc = refused(router, "PATCH", "/u/me")
    assert exc.headers == [("Allow", "GET, HEAD, POST")]
    assert router.resolve("POST", "/u/me") == (duel, {"name": "me"})


def test_routes_without_parameters_win_then_order_of_addition() -> None:
    router = Router()
    router.add("/u/{name}", duel)
    router.add("/u/me", home)
    router.add("/u/{id:int}", user)
    assert router.resolve("GET", "/u/me") == (home, {})
    assert router.resolve("GET", "/u/7") == (duel, {"name": "7"})  # first dynamic route wins


@pytest.mark.parametrize(
    "pattern",
    ["no-slash", "/a/{x", "/a/x}", "/a/{x:float}", "/a/{x}/{x}", "/a/{}", "/a/{1x}", "/a/{x}{"],
)
def test_malformed_patterns_raise_value_error(pattern: str) -> None:
    with pytest.raises(ValueError):
        Router().add(pattern, home)


def test_explicit_str_converter() -> None:
    router = Router()
    router.add("/a/{x:str}", duel)
    assert router.resolve("GET", "/a/b") == (duel, {"x": "b"})


# App


def endpoint(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for ws.endpoint: a decorator that wraps the handler."""

    @functools.wraps(handler)
    async def wrapper(request: Request, **params: Any) -> Any:
        return await handler(request, "sock", **params)

    return wrapper


def test_app_route_returns_function_unchanged_and_stacks() -> None:
    app = App()

    @app.route("/echo")
    @endpoint
    async def echo(request: Request, sock: str) -> str:
        return sock

    @app.route("/post", methods=["POST"])
    @app.route("/other")
    async def multi(request: Request) -> str:
        return "multi"

    assert app.router.resolve("GET", "/echo") == (echo, {})
    assert echo.__wrapped__ is not None  # still the wrapper endpoint() returned
    assert app.router.resolve("POST", "/post") == (multi, {})
    assert app.router.resolve("GET", "/other") == (multi, {})
    assert refused(app.router, "GET", "/post").status == 405


def test_app_add_route() -> None:
    app = App()
    app.add_route("/u/{id:int}", user, methods=["GET", "DELETE"])
    assert app.router.resolve("DELETE", "/u/3") == (user, {"id": 3})


def test_app_mount_static(tmp_path: pathlib.Path) -> None:
    (tmp_path / "app.js").write_text("let x = 1;")
    (tmp_path.parent / "outside.txt").write_text("secret")
    app = App()
    app.mount_static("/static/", tmp_path)
    handler, params = app.router.resolve("GET", "/static/app.js")
    assert params == {"path": "app.js"}
    request = Request.from_head(RequestHead("GET", "/static/app.js", "1.1", Headers()))
    response = _run(handler(request, **params))
    assert isinstance(response, Response)
    assert (response.status, response.body) == (200, b"let x = 1;")
    # an encoded traversal arrives decoded in Request.path and must still be refused
    request = Request.from_head(RequestHead("GET", "/static/..%2Foutside.txt", "1.1", Headers()))
    handler, params = app.router.resolve("GET", request.path)
    assert params == {"path": "../outside.txt"}
    assert _run(handler(request, **params)).status == 404


def _run(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("coroutine suspended")
