// The leaderboard: /chess/ratings (JSON), a table per time control.
"use strict";
const $ = (id) => document.getElementById(id);

async function load() {
  const response = await fetch("/chess/ratings");
  const data = await response.json();
  if (!response.ok) { $("error").hidden = false; $("error").textContent = data.detail; return; }
  for (const mode of data.time_controls) {
    const section = document.createElement("section");
    section.dataset.mode = mode;
    const h2 = Object.assign(document.createElement("h2"), { textContent: mode });
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>#</th><th>Player</th><th>Rating</th><th>Games</th><th>W / D / L</th></tr></thead><tbody></tbody>";
    const rows = data.leaderboards[mode] || [];
    for (const r of rows) {
      const tr = document.createElement("tr");
      for (const text of [r.rank, r.name, `${r.rating} ± ${r.deviation}`, r.games, `${r.wins} / ${r.draws} / ${r.losses}`]) {
        tr.appendChild(Object.assign(document.createElement("td"), { textContent: String(text) }));
      }
      table.tBodies[0].appendChild(tr);
    }
    if (!rows.length) section.append(h2, Object.assign(document.createElement("p"), { textContent: "No rated games yet." }));
    else section.append(h2, table);
    $("boards").appendChild(section);
  }
}

load();
