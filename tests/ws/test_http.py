"""Tests for ws.http: Request, Response and the static file handler."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Coroutine
from typing import Any

import pytest

from ws.http import Request, Response, static
from ws.http11 import Headers, RequestHead, ResponseParser


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends (the static handler does no awaiting)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("coroutine suspended")


def head(target: str, headers: list[tuple[str, str]] = (), version: str = "1.1", body: bytes = b"") -> RequestHead:
    return RequestHead("GET", target, version, Headers(list(headers)), body)


def parse_response(data: bytes) -> tuple[int, Headers, bytes]:
    parser = ResponseParser()
    parser.feed(data)
    status = parser.next_response()
    assert status is not None
    return status.status, status.headers, parser.take_buffer()


# Request


def test_from_head_splits_and_decodes_target() -> None:
    target = "/duel/caf%C3%A9%20x?a=1&b=&a=2&c=%2F+y"
    request = Request.from_head(head(target, [("Host", "h")], body=b"xy"), peer=("10.0.0.1", 5000))
    assert request.method == "GET"
    assert request.path == "/duel/café x"
    assert request.target == target
    assert request.query == {"a": "1", "b": "", "c": "/ y"}
    assert request.query_all == {"a": ["1", "2"], "b": [""], "c": ["/ y"]}
    assert request.headers["host"] == "h"
    assert request.body == b"xy"
    assert request.peer == ("10.0.0.1", 5000)
    assert request.params == {}


def test_from_head_without_query_and_absolute_form() -> None:
    assert Request.from_head(head("/")).query == {}
    request = Request.from_head(head("http://example.com/a%20b?x=1"))
    assert (request.path, request.query) == ("/a b", {"x": "1"})
    assert Request.from_head(head("http://example.com")).path == "/"


def test_cookies_are_parsed_leniently() -> None:
    request = Request.from_head(
        head("/", [("Cookie", 'seat=abc; theme="dark"; junk; =x; seat=other'), ("Cookie", "lang=fr ;  sp=a b")])
    )
    assert request.cookies == {"seat": "abc", "theme": "dark", "lang": "fr", "sp": "a b"}
    assert Request.from_head(head("/")).cookies == {}


@pytest.mark.parametrize(
    ("version", "connection", "expected"),
    [
        ("1.1", [], True),
        ("1.1", [("Connection", "close")], False),
        ("1.0", [], False),
        ("1.0", [("Connection", "Keep-Alive")], True),
    ],
)
def test_request_keep_alive(version: str, connection: list[tuple[str, str]], expected: bool) -> None:
    assert Request.from_head(head("/", connection, version=version)).keep_alive is expected


def test_conn_is_private_but_settable() -> None:
    marker = object()
    request = Request(method="GET", path="/", target="/", _conn=marker)
    assert request._conn is marker
    request._conn = None
    assert request._conn is None
    assert "_conn" not in repr(request)
    with pytest.raises(AttributeError):
        request.anything_else = 1  # type: ignore[attr-defined]  # slots


def test_params_are_settable() -> None:
    request = Request.from_head(head("/u/7"))
    request.params = {"id": 7}
    assert request.params == {"id": 7}


# Response


def test_text_html_json() -> None:
    text = Response.text("héllo", status=201)
    assert (text.status, text.body) == (201, "héllo".encode())
    assert text.headers == [("Content-Type", "text/plain; charset=utf-8")]
    html = Response.html("<p>x</p>")
    assert html.headers == [("Content-Type", "text/html; charset=utf-8")] and html.status == 200
    data = Response.json({"a": [1, "é"]}, status=400)
    assert data.status == 400
    assert json.loads(data.body) == {"a": [1, "é"]}
    assert data.headers == [("Content-Type", "application/json")]


def test_redirect_and_error() -> None:
    redirect = Response.redirect("/lobby")
    assert (redirect.status, redirect.headers, redirect.body) == (302, [("Location", "/lobby")], b"")
    assert Response.redirect("/x", status=301).status == 301
    error = Response.error(404)
    assert (error.status, error.body) == (404, b"404 Not Found\n")
    assert Response.error(400, "bad key").body == b"400 Bad Request: bad key\n"
    assert Response.error(599).body == b"599\n"


def test_error_headers_are_not_shared() -> None:
    first = Response.error(405)
    first.headers.append(("Allow", "GET"))
    assert ("Allow", "GET") not in Response.error(405).headers


def test_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "page.html").write_text("<h1>hi</h1>")
    (tmp_path / "blob.unknownext").write_bytes(b"\x00\x01")
    page = Response.file(tmp_path / "page.html")
    assert (page.status, page.body) == (200, b"<h1>hi</h1>")
    assert page.headers == [("Content-Type", "text/html; charset=utf-8")]
    assert Response.file(tmp_path / "blob.unknownext").headers == [("Content-Type", "application/octet-stream")]
    assert Response.file(str(tmp_path / "page.html"), content_type="text/x").headers == [("Content-Type", "text/x")]
    with pytest.raises(OSError):
        Response.file(tmp_path / "missing.txt")


def test_serialize_keep_alive() -> None:
    status, headers, body = parse_response(Response.text("hi").serialize(keep_alive=True))
    assert (status, body) == (200, b"hi")
    assert headers.get("Content-Length") == "2"
    assert "Connection" not in headers


def test_serialize_close_adds_connection_close_once() -> None:
    _, headers, _ = parse_response(Response.text("hi").serialize(keep_alive=False))
    assert headers.get_all("Connection") == ["close"]
    response = Response(200, b"", [("Connection", "close")])
    _, headers, _ = parse_response(response.serialize(keep_alive=False))
    assert headers.get_all("Connection") == ["close"]


def test_serialize_does_not_mutate_response() -> None:
    response = Response.text("hi")
    response.serialize(keep_alive=False, head_only=True)
    assert response.headers == [("Content-Type", "text/plain; charset=utf-8")]


def test_serialize_head_only_keeps_content_length() -> None:
    data = Response.text("hello").serialize(keep_alive=True, head_only=True)
    status, headers, body = parse_response(data)
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "5"
    assert data.endswith(b"\r\n\r\n")


def test_serialize_204_has_no_content_length() -> None:
    for head_only in (False, True):
        data = Response(204).serialize(keep_alive=True, head_only=head_only)
        assert b"Content-Length" not in data


# static()


@pytest.fixture
def site(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "site"
    (root / "css").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "css" / "main.css").write_text("body{}")
    (root / "css" / "index.html").write_text("css index")
    (tmp_path / "secret.txt").write_text("top secret")
    return root


def serve(root: pathlib.Path, path: str) -> Response:
    request = Request.from_head(head("/static/" + path))
    return run(static(root)(request, path))


def test_static_serves_files_and_indexes(site: pathlib.Path) -> None:
    css = serve(site, "css/main.css")
    assert (css.status, css.body) == (200, b"body{}")
    assert css.headers == [("Content-Type", "text/css; charset=utf-8")]
    assert serve(site, "").body == b"<h1>home</h1>"
    assert serve(site, "css").body == b"css index"
    assert serve(site, "css/").body == b"css index"
    assert serve(site, "css//main.css").body == b"body{}"
    request = Request.from_head(head("/static/"))
    assert run(static(str(site))(request)).body == b"<h1>home</h1>"


@pytest.mark.parametrize(
    "path",
    [
        "missing.txt",
        "empty",  # directory without index.html
        "css/main.css/x",
        "../secret.txt",
        "css/../../secret.txt",
        "..",
        "css/..",  # even when it would stay inside
        "/etc/passwd",
        "//etc/passwd",
        "index.html\x00.png",
        "..\\secret.txt",
        "css\\main.css",
    ],
)
def test_static_refusals_are_404(site: pathlib.Path, path: str) -> None:
    response = serve(site, path)
    assert response.status == 404
    assert b"secret" not in response.body


def test_static_refuses_symlinks_escaping_the_directory(site: pathlib.Path) -> None:
    outside = site.parent / "secret.txt"
    os.symlink(outside, site / "leak.txt")
    os.symlink(site.parent, site / "up")
    (site.parent / "elsewhere").mkdir()
    (site.parent / "elsewhere" / "index.html").write_text("secret index")
    os.symlink(site.parent / "elsewhere" / "index.html", site / "empty" / "index.html")
    for path in ("leak.txt", "up/secret.txt", "up", "empty", "empty/"):
        response = serve(site, path)
        assert response.status == 404, path
        assert b"secret" not in response.body


def test_static_follows_symlinks_that_stay_inside(site: pathlib.Path) -> None:
    os.symlink(site / "css" / "main.css", site / "alias.css")
    assert serve(site, "alias.css").body == b"body{}"
