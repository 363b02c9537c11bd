"""Interop with a real browser: Debian's headless Chromium (never a downloaded build),
driven through Playwright's python API, loads a page served by our own server and
talks to an echo endpoint: text, binary, a large compressible text over
permessage-deflate, and the limits as a browser meets them (1009, a refused Origin)."""

from __future__ import annotations

import asyncio

import ws
from tests.browser import ARTIFACTS, chromium, needs_chromium
from tests.support import running, scaled, settled

pytestmark = needs_chromium

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ws interop</title>
<style>body{font:14px monospace;margin:2em} .ok{color:green} .bad{color:red}</style></head>
<body><h1>ws ↔ Chromium</h1><ul id="log"></ul>
<script>
const log = (text, ok = true) => {
  const li = document.createElement("li");
  li.textContent = text; li.className = ok ? "ok" : "bad";
  document.getElementById("log").appendChild(li);
};
const base = "ws://" + location.host;
function open(path) {
  return new Promise((resolve, reject) => {
    const sock = new WebSocket(base + path);
    sock.binaryType = "arraybuffer";
    sock.onopen = () => resolve(sock);
    sock.onerror = () => reject(new Error("could not open " + path));
  });
}
function next(sock) {
  return new Promise((resolve, reject) => {
    sock.onmessage = (e) => resolve(e.data);
    sock.onclose = (e) => reject(new Error("closed " + e.code));
  });
}
function closed(sock) {
  return new Promise((resolve) => { sock.onclose = (e) => resolve({code: e.code, reason: e.reason, clean: e.wasClean}); });
}
async function echoTests() {
  const sock = await open("/echo");
  const out = {extensions: sock.extensions};
  const text = "héllo, wörld ♞ 🌍";
  sock.send(text);
  out.text = (await next(sock)) === text;
  log("text: " + out.text, out.text);
  const bytes = new Uint8Array(1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
  sock.send(bytes);
  const back = new Uint8Array(await next(sock));
  out.binary = back.length === bytes.length && back.every((b, i) => b === bytes[i]);
  log("binary: " + out.binary, out.binary);
  const big = "the quick brown fox jumps over the lazy dog. ".repeat(20000);  // ~900 KB
  sock.send(big);
  const bigBack = await next(sock);
  out.bigLength = bigBack.length;
  out.big = bigBack === big;
  log("large compressible text (" + big.length + " chars): " + out.big, out.big);
  log("extensions: " + sock.extensions, sock.extensions.includes("permessage-deflate"));
  const done = closed(sock);
  sock.close(1000, "done");
  out.close = await done;
  return out;
}
async function tooBig() {
  const sock = await open("/small");
  const done = closed(sock);
  sock.send("x".repeat(2000));
  const result = await done;
  log("over max_message_size: close " + result.code, result.code === 1009);
  return result;
}
async function refusedOrigin() {
  try {
    const sock = await open("/guarded");
    sock.close();
    log("foreign origin was accepted", false);
    return "opened";
  } catch (e) {
    log("foreign origin refused", true);
    return "refused";
  }
}
window.runAll = async () => ({echo: await echoTests(), tooBig: await tooBig(), origin: await refusedOrigin()});
</script></body></html>
"""


async def test_chromium_exchanges_text_binary_and_compressed_messages() -> None:

    server_sockets: list[ws.WebSocket] = []
    app = ws.App()

    @app.route("/")
    async def index(request):
        return ws.Response.html(PAGE)

    @app.route("/echo")
    @ws.endpoint
    async def echo(request, sock):
        server_sockets.append(sock)
        async for msg in sock:
            await sock.send(msg)

    @app.route("/small")
    @ws.endpoint(max_message_size=1000)
    async def small(request, sock):
        async for msg in sock:
            await sock.send(msg)

    @app.route("/guarded")
    @ws.endpoint(origins=["https://only-this.example"])
    async def guarded(request, sock):
        await sock

    async with running(app) as server:
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 800, "height": 400})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(round(scaled(10) * 1000))
            await page.goto(f"http://127.0.0.1:{server.port}/")
            results = await asyncio.wait_for(page.evaluate("runAll()"), scaled(15))
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "ws_browser_interop.png"))
        await settled(server)

    assert errors == []
    echo_results = results["echo"]
    assert echo_results["text"] is True
    assert echo_results["binary"] is True
    assert echo_results["big"] is True and echo_results["bigLength"] == 900_000
    # A clean closing handshake; the reason the browser sent reached the server.
    assert echo_results["close"]["code"] == 1000 and echo_results["close"]["clean"] is True
    # permessage-deflate was negotiated, as both ends see it.
    assert "permessage-deflate" in echo_results["extensions"]
    (sock,) = server_sockets
    assert "permessage-deflate" in (sock.extensions or "")
    assert sock.close_code == 1000 and sock.close_reason == "done"
    assert results["tooBig"]["code"] == 1009
    assert results["origin"] == "refused"
    assert (ARTIFACTS / "ws_browser_interop.png").stat().st_size > 0
