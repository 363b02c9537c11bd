"""The admin page's HTML and script (:mod:`rooms.admin` serves it).

One self-contained page: it polls ``api/state`` every two seconds and draws
every process, lobby and room with DOM calls and ``textContent`` only (names
and states come from players: nothing of theirs is parsed as HTML).  The
actions POST JSON to ``api/action`` with the ``X-Rooms-Admin`` header.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rooms admin</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.2em 2em; color: #222; }
  h1 { font-size: 1.4em; margin: 0 0 .2em; }
  h2 { font-size: 1.15em; margin: 1.4em 0 .3em; border-bottom: 1px solid #ccc; }
  h3 { font-size: 1em; margin: 1em 0 .3em; }
  table { border-collapse: collapse; margin: .3em 0 .8em; }
  th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
  th { background: #f4f4f4; }
  .muted { color: #777; }
  .away { color: #b60; } .gone { color: #b00; text-decoration: line-through; }
  .error { color: #b00; }
  pre { margin: .3em 0; max-height: 16em; overflow: auto; background: #f8f8f8; padding: .4em; font-size: 12px; }
  button { font: inherit; padding: .1em .5em; cursor: pointer; }
  #top { display: flex; gap: 1em; align-items: baseline; }
  #top form { margin-left: auto; }
</style>
</head>
<body>
<div id="top">
  <h1>rooms admin</h1>
  <span id="updated" class="muted">loading...</span>
  <form method="post" action="logout"><button type="submit">Sign out</button></form>
</div>
<div id="message" class="muted"></div>
<div id="errors" class="error"></div>
<div id="processes"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, attrs) {
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function age(seconds) {
  if (seconds < 60) return Math.round(seconds) + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
  return Math.floor(seconds / 3600) + " h " + Math.round((seconds % 3600) / 60) + " min";
}

async function act(body) {
  $("message").textContent = "...";
  try {
    const response = await fetch("api/action", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Rooms-Admin": "1"},
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    $("message").textContent = (answer.ok ? "Done: " : "Not done: ") + body.action + " " + body.room +
      (body.seat === undefined ? "" : " seat " + body.seat) + (answer.ok ? "" : " (" + answer.detail + ")");
  } catch (err) {
    $("message").textContent = "Failed: " + err;
  }
  refresh();
}

function player(proc, lobby, room, p) {
  const status = p.gone ? "left" : p.connected ? "connected" : "away" + (p.away === null ? "" : " " + age(p.away));
  const remove = p.gone ? null : el("button", {
    class: "remove", "data-seat": p.seat,
    onclick: () => act({action: "remove", node: proc.node, lobby: lobby.name, room: room.id, seat: p.seat}),
  }, "Remove");
  return el("div", {class: "player " + (p.gone ? "gone" : p.connected ? "" : "away"), "data-seat": p.seat},
    "#" + p.seat + " ", el("span", {class: "name"}, p.name), " ", el("span", {class: "muted"}, "(" + status + ")"), " ", remove);
}

function roomRow(proc, lobby, room) {
  const label = [room.mode === null || room.mode === undefined ? null : "mode " + room.mode, room.code ? "code " + room.code : null].filter(Boolean).join(", ");
  return el("tr", {class: "room", "data-room": room.id},
    el("td", {}, el("code", {}, room.id), label ? el("div", {class: "muted"}, label) : null),
    el("td", {class: "age"}, age(room.age)),
    el("td", {class: "players"}, ...room.players.map((p) => player(proc, lobby, room, p))),
    el("td", {class: "spectators"}, String(room.spectators)),
    el("td", {}, el("details", {}, el("summary", {}, "state"), el("pre", {class: "state"}, JSON.stringify(room.state, null, 1)))),
    el("td", {}, el("button", {class: "end", onclick: () => act({action: "end", node: proc.node, lobby: lobby.name, room: room.id})}, "End room")));
}

function lobbyView(proc, lobby) {
  const queues = Object.entries(lobby.waiting);
  const finished = Object.entries(lobby.finished).map(([k, v]) => k + " " + v).join(", ") || "none";
  return el("section", {class: "lobby", "data-lobby": lobby.name},
    el("h3", {}, "Lobby " + lobby.name + " ", el("span", {class: "muted"}, "(" + lobby.n + " per room)")),
    el("div", {class: "muted"}, "matched " + lobby.matched + ", reconnects " + lobby.reconnects + ", rooms finished: " + finished),
    queues.length
      ? table(["mode", "waiting"], queues.map(([mode, count]) => el("tr", {"data-mode": mode}, el("td", {}, mode || "(no mode)"), el("td", {class: "waiting"}, String(count)))), {class: "queues"})
      : el("div", {class: "muted"}, "nobody has waited yet"),
    lobby.rooms.length
      ? table(["room", "age", "players", "spectators", "state", ""], lobby.rooms.map((room) => roomRow(proc, lobby, room)), {class: "rooms"})
      : el("div", {class: "muted norooms"}, "no room running"));
}

function processView(proc) {
  return el("section", {class: "process", "data-node": proc.node},
    el("h2", {}, "Process " + proc.node + (proc.here ? " (this one)" : "")),
    ...proc.lobbies.map((lobby) => lobbyView(proc, lobby)));
}

async function refresh() {
  let state;
  try {
    const response = await fetch("api/state", {credentials: "same-origin", cache: "no-store"});
    if (response.status === 401) { location.reload(); return; }
    state = await response.json();
  } catch (err) {
    $("updated").textContent = "cannot reach the server: " + err;
    return;
  }
  const open = new Set([...document.querySelectorAll("tr.room details[open]")].map((d) => d.closest("tr").dataset.room));
  $("processes").replaceChildren(...state.processes.map(processView));
  for (const row of document.querySelectorAll("tr.room")) {
    if (open.has(row.dataset.room)) row.querySelector("details").open = true;
  }
  $("errors").replaceChildren(...state.errors.map((e) => el("div", {}, e)));
  $("updated").textContent = "updated " + new Date(state.time * 1000).toLocaleTimeString() +
    ", " + state.processes.length + " process" + (state.processes.length === 1 ? "" : "es");
}

refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""
