// Adds the history links to the chess page without touching chess.js: a
// "Replay" link on the game-over screen (the room id is the spectators'
// link's), and links to the games list and the leaderboard.
"use strict";
(() => {
  const after = document.getElementById("after");
  const watch = document.getElementById("watch-link");
  if (!after || !watch) return;
  const replay = Object.assign(document.createElement("a"), { id: "replay-link", textContent: "Replay", className: "button" });
  after.appendChild(replay);
  const update = () => {
    const room = new URL(watch.href, location.href).searchParams.get("watch");
    if (room) replay.href = `/chess/replay/${encodeURIComponent(room)}`;
    replay.hidden = !room;
  };
  new MutationObserver(update).observe(watch, { attributes: true, attributeFilter: ["href"] });
  update();
  const nav = document.createElement("p");
  nav.className = "history-nav";
  nav.append(Object.assign(document.createElement("a"), { href: "/chess/history", textContent: "Games" }), " · ",
             Object.assign(document.createElement("a"), { href: "/chess/leaderboard", textContent: "Leaderboard" }));
  after.parentElement.appendChild(nav);
})();
