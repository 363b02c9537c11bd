// The games list: /chess/games (JSON), newest first, a page at a time; each
// game links to its replay and its PGN.
"use strict";
const $ = (id) => document.getElementById(id);
let before = null;

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  row.appendChild(td);
}

async function more() {
  const query = new URLSearchParams(location.search);
  if (before !== null) query.set("before", before);
  const response = await fetch(`/chess/games?${query}`);
  const data = await response.json();
  if (!response.ok) { $("error").hidden = false; $("error").textContent = data.detail; return; }
  const body = document.querySelector("#games tbody");
  for (const g of data.games) {
    const last = g.games - 1;
    const white = g.players[g.white[last] ?? 0] || g.players[0];
    const black = g.players.find((p) => p !== white) || g.players[1];
    const row = document.createElement("tr");
    row.dataset.room = g.room;
    cell(row, new Date(g.ended_at * 1000).toLocaleString());
    cell(row, g.mode);
    cell(row, white.name);
    cell(row, black.name);
    cell(row, g.results.join(", ") + (g.games > 1 ? ` (${g.games} games)` : ""));
    const links = document.createElement("span");
    links.append(Object.assign(document.createElement("a"), { href: g.replay, textContent: "Replay", className: "replay" }), " ",
                 Object.assign(document.createElement("a"), { href: g.pgn, textContent: "PGN" }));
    cell(row, links);
    body.appendChild(row);
  }
  before = data.before;
  $("more").hidden = data.games.length === 0 || before === null;
}

$("more").onclick = more;
more();
