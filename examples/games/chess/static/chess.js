// The chess page: joins the lobby with rooms.js, draws the board from the
// server's state (FEN, moves, clocks), sends moves made by click or drag.
// The server decides everything: legality, clocks, results.
import { RoomsClient } from "/rooms/rooms.js";

const $ = (id) => document.getElementById(id);
const LOBBY = "/chess/ws";
const GLYPH = { k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟" };
const FILES = "abcdefgh";
const params = new URLSearchParams(location.search);
const client = new RoomsClient();

let mySeat = null;     // our seat (null for a spectator)
let myColor = null;    // "white" | "black" | null
let state = null;      // the last full state from the server
let stateAt = 0;       // performance.now() when it arrived (clocks count down from there)
let selected = null;   // the square picked up
let pendingPromotion = null;
let lastPgn = null;
let ended = false;
let code = null;       // the private game's code
let drag = null;       // {from, ghost, moved}

// ------------------------------------------------------------------ joining

async function loadConfig() {
  const select = $("mode");
  try {
    const config = await (await fetch("/chess/config")).json();
    for (const tc of config.time_controls) select.add(new Option(tc, tc));
  } catch {
    select.add(new Option("5+0", "5+0"));
  }
  if (params.get("mode")) select.value = params.get("mode");
}

function start(options) {
  sessionStorage.setItem("chess:join", JSON.stringify(options));
  $("join").hidden = true;
  $("game").hidden = false;
  drawBoard();
  status("Connecting…");
  client.connect(LOBBY, options);
}

function joinOptions(extra = {}) {
  const name = $("name").value.trim() || "guest";
  localStorage.setItem("chess:name", name);
  return { name, mode: $("mode").value, ...extra };
}

$("play").onclick = () => start(joinOptions());
$("private").onclick = () => start(joinOptions({ code: "new" }));
$("join-code").onclick = () => {
  const value = $("code").value.trim().toUpperCase();
  if (value) start(joinOptions({ code: value }));
};

// ------------------------------------------------------------------ rooms events

client.on("lobby", (s) => {
  code = s.code ?? code;
  let text = `Waiting for an opponent (${s.have} of ${s.need}) · ${$("mode").value || ""}`;
  if (code) {
    const link = `${location.origin}/chess/?code=${code}&mode=${encodeURIComponent($("mode").value)}`;
    text = `Private game ${code}: send this link to your opponent — ${link}`;
  }
  status(text);
});
client.on("matched", (m) => { mySeat = m.seat; notice(""); status("Matched — starting…"); });
client.on("resumed", (m) => {
  mySeat = m.seat;
  notice("You are back in your game.");
  if (m.state) setState(m.state);
});
client.on("spectating", (m) => {
  mySeat = null;
  status("Watching as a spectator");
  if (m.state) setState(m.state);
});
client.on("player_left", (m) => {
  if (m.player.seat === mySeat) return;
  notice(m.reconnect
    ? `${m.player.name} left — their seat is held for ${m.reconnect} s (their clock keeps running).`
    : `${m.player.name} has left the game.`);
  markAway(m.player, true);
});
client.on("player_returned", (m) => { notice(`${m.player.name} is back.`); markAway(m.player, false); });
client.on("ended", (e) => {
  ended = true;
  $("after").hidden = false;
  $("rematch").disabled = true;
  if (e.result && e.result.pgn) lastPgn = e.result.pgn;
  if (!state || !state.outcome) status("The game is over.");
});
client.on("error", (e) => notice(e.detail || e.error, true));
client.on("reconnecting", (r) => status(`Connection lost — reconnecting (attempt ${r.attempt})…`));
client.on("close", (c) => {
  if (!c.reconnecting && !ended) {
    if (c.code === 4004) status("No such game (finished, or a wrong code).");
    else if (c.code !== 1000) status(`Disconnected (${c.code}${c.reason ? ": " + c.reason : ""}).`);
  }
});
client.on("message", (msg) => {
  switch (msg.type) {
    case "start":
      notice("");
      selected = null;
      $("after").hidden = true;
      $("rematch").disabled = false;
      $("rematch").textContent = "Rematch";
      setState(msg.state);
      break;
    case "move":
      if (!$("notice").classList.contains("error") || msg.move.color === myColor) notice("");
      setState(msg.state);
      break;
    case "draw_offer":
      if (msg.by === myColor) notice("You offered a draw.");
      else if (myColor) $("draw-offer").hidden = false;
      else notice(`${msg.by} offers a draw.`);
      break;
    case "draw_declined":
      $("draw-offer").hidden = true;
      notice(msg.by === myColor ? "You declined the draw." : "Your draw offer was declined.");
      break;
    case "game_over":
      lastPgn = msg.pgn;
      setState(msg.state);
      if (myColor) $("after").hidden = false;
      break;
    case "rematch_offer":
      if (msg.by === myColor) { $("rematch").disabled = true; $("rematch").textContent = "Rematch offered…"; }
      else notice("Your opponent wants a rematch.");
      break;
    case "error":
      if (msg.state) setState(msg.state);
      notice(msg.detail || msg.error, true);
      break;
  }
});

// ------------------------------------------------------------------ state and drawing

function setState(s) {
  state = s;
  stateAt = performance.now();
  myColor = mySeat === null ? null : (s.colors.white.seat === mySeat ? "white" : "black");
  $("draw-offer").hidden = !(s.draw_offer && myColor && s.draw_offer !== myColor);
  $("actions").hidden = !myColor || !!s.outcome;
  if (s.outcome && myColor) $("after").hidden = false;  // also after a reload between games
  $("share").hidden = false;
  $("watch-link").href = `/chess/?watch=${s.room}`;
  $("watch-link").textContent = `${location.origin}/chess/?watch=${s.room}`;
  drawBoard();
  drawMoves();
  drawPlayers();
  tick();
  if (s.outcome) {
    const o = s.outcome;
    const who = o.winner ? `${o.winner === "white" ? s.names.white : s.names.black} wins` : "Draw";
    status(`Game over: ${o.result} — ${who} (${o.reason})`);
  } else if (myColor) {
    status(s.turn === myColor ? `Your move (${myColor})` : `Waiting for ${s.turn}…`);
  } else {
    status(`Watching: ${s.turn} to move`);
  }
}

function parseFen(fen) {
  const squares = {};
  fen.split(" ")[0].split("/").forEach((row, i) => {
    let file = 0;
    for (const ch of row) {
      if (/\d/.test(ch)) file += Number(ch);
      else squares[FILES[file++] + (8 - i)] = ch;
    }
  });
  return squares;
}

function drawBoard() {
  const board = $("board");
  const pieces = state ? parseFen(state.fen) : {};
  board.dataset.fen = state ? state.fen : "";      // for tests and curious readers
  board.dataset.color = myColor || "spectator";
  const flip = myColor === "black";
  const last = state && state.last ? [state.last.slice(0, 2), state.last.slice(2, 4)] : [];
  const turnKing = state && state.check ? (state.turn === "white" ? "K" : "k") : null;
  board.textContent = "";
  for (let r = 0; r < 8; r++) {
    for (let f = 0; f < 8; f++) {
      const file = flip ? 7 - f : f, rank = flip ? r + 1 : 8 - r;
      const name = FILES[file] + rank;
      const sq = document.createElement("div");
      sq.className = `sq ${(file + rank) % 2 ? "dark" : "light"}`;  // a1 is dark
      sq.dataset.square = name;
      if (last.includes(name)) sq.classList.add("last");
      if (name === selected) sq.classList.add("selected");
      const piece = pieces[name];
      if (piece) {
        sq.dataset.piece = piece;
        if (piece === turnKing) sq.classList.add("check");
        const span = document.createElement("span");
        span.className = `piece ${piece === piece.toUpperCase() ? "w" : "b"}`;
        span.textContent = GLYPH[piece.toLowerCase()] + "\uFE0E";
        sq.append(span);
      }
      for (const [show, kind, text] of [[f === 0, "rank", rank], [r === 7, "file", FILES[file]]]) {
        if (!show) continue;
        const c = document.createElement("span");
        c.className = `coord ${kind}`;
        c.textContent = text;
        sq.append(c);
      }
      board.append(sq);
    }
  }
}

function drawMoves() {
  const list = $("moves");
  list.textContent = "";
  const moves = state.moves;
  for (let i = 0; i < moves.length; i += 2) {
    const li = document.createElement("li");
    for (const san of moves.slice(i, i + 2)) {
      const span = document.createElement("span");
      span.textContent = san;
      li.append(span);
    }
    list.append(li);
  }
  list.scrollTop = list.scrollHeight;
}

function drawPlayers() {
  const bottom = myColor || "white";
  const top = bottom === "white" ? "black" : "white";
  for (const [where, color] of [["top", top], ["bottom", bottom]]) {
    const info = state.colors[color];
    const el = $(`${where}-name`);
    el.textContent = `${color === "white" ? "○" : "●"} ${info.name}${info.seat === mySeat ? " (you)" : ""}`;
    el.dataset.color = color;
    if (!info.connected) markAway(info, true);
  }
}

function markAway(player, away) {
  for (const where of ["top", "bottom"]) {
    const el = $(`${where}-name`);
    if (!state || state.colors[el.dataset.color]?.seat !== player.seat) continue;
    el.querySelector(".away")?.remove();
    if (away) {
      const span = document.createElement("span");
      span.className = "away";
      span.textContent = "(away)";
      el.append(span);
    }
  }
}

function clockText(seconds) {
  const s = Math.max(0, seconds);
  if (s < 10) return `${Math.floor(s)}.${Math.floor((s * 10) % 10)}`;
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

function tick() {
  if (!state || !state.clocks) return;
  const elapsed = (performance.now() - stateAt) / 1000;
  const bottom = myColor || "white";
  for (const [where, color] of [["top", bottom === "white" ? "black" : "white"], ["bottom", bottom]]) {
    const running = state.running === color && !ended;
    const left = state.clocks[color] - (running ? elapsed : 0);
    const el = $(`${where}-clock`);
    el.textContent = clockText(left);
    el.classList.toggle("running", running);
    el.classList.toggle("low", left < 10);
  }
}
setInterval(tick, 100);

// ------------------------------------------------------------------ moving: click or drag

function mine(square) {
  if (!state || !myColor || state.outcome || state.turn !== myColor) return false;
  const piece = parseFen(state.fen)[square];
  return !!piece && (piece === piece.toUpperCase()) === (myColor === "white");
}

function squareAt(x, y) {
  const el = document.elementFromPoint(x, y)?.closest(".sq");
  return el ? el.dataset.square : null;
}

function tryMove(from, to) {
  selected = null;
  if (!from || !to || from === to) return drawBoard();
  const piece = parseFen(state.fen)[from];
  if (piece && piece.toLowerCase() === "p" && (to[1] === "8" || to[1] === "1")) {
    pendingPromotion = from + to;
    $("promotion").hidden = false;
    return drawBoard();
  }
  client.send({ type: "move", uci: from + to });
  drawBoard();
}

$("promotion").onclick = (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  $("promotion").hidden = true;
  if (button.dataset.piece && pendingPromotion) client.send({ type: "move", uci: pendingPromotion + button.dataset.piece });
  pendingPromotion = null;
};

$("board").addEventListener("pointerdown", (event) => {
  const square = squareAt(event.clientX, event.clientY);
  if (!square) return;
  if (selected && selected !== square && !mine(square)) {  // second click: the target
    return tryMove(selected, square);
  }
  if (!mine(square)) { selected = null; return drawBoard(); }
  selected = square;
  drawBoard();
  const ghost = document.createElement("div");
  const piece = parseFen(state.fen)[square];
  ghost.className = `ghost piece ${piece === piece.toUpperCase() ? "w" : "b"}`;
  ghost.textContent = GLYPH[piece.toLowerCase()] + "\uFE0E";
  ghost.hidden = true;
  document.body.append(ghost);
  drag = { from: square, ghost, moved: false, x: event.clientX, y: event.clientY };
});
window.addEventListener("pointermove", (event) => {
  if (!drag) return;
  if (!drag.moved && Math.hypot(event.clientX - drag.x, event.clientY - drag.y) < 6) return;
  drag.moved = true;
  drag.ghost.hidden = false;
  drag.ghost.style.left = `${event.clientX}px`;
  drag.ghost.style.top = `${event.clientY}px`;
});
window.addEventListener("pointerup", (event) => {
  if (!drag) return;
  const { from, ghost, moved } = drag;
  ghost.remove();
  drag = null;
  if (!moved) return;  // a click: keep the piece selected, wait for the target click
  const to = squareAt(event.clientX, event.clientY);
  if (to && to !== from) tryMove(from, to);
});

// ------------------------------------------------------------------ buttons

$("resign").onclick = () => { if (confirm("Resign this game?")) client.send({ type: "resign" }); };
$("offer-draw").onclick = () => client.send({ type: "offer_draw" });
$("accept-draw").onclick = () => { $("draw-offer").hidden = true; client.send({ type: "accept_draw" }); };
$("decline-draw").onclick = () => { $("draw-offer").hidden = true; client.send({ type: "decline_draw" }); };
$("rematch").onclick = () => client.send({ type: "rematch" });
$("leave").onclick = () => {
  client.send({ type: "leave" });
  client.leave();
  sessionStorage.removeItem("chess:join");
  location.href = "/chess/";
};
$("download").onclick = () => {
  if (!lastPgn) return;
  const url = URL.createObjectURL(new Blob([lastPgn + "\n"], { type: "application/x-chess-pgn" }));
  const a = Object.assign(document.createElement("a"), { href: url, download: `chess-${state ? state.room : "game"}.pgn` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};

function status(text) { $("status").textContent = text; }
function notice(text, error = false) {
  const el = $("notice");
  el.hidden = !text;
  el.textContent = text;
  el.classList.toggle("error", error);
}

// ------------------------------------------------------------------ on load

await loadConfig();
$("name").value = params.get("name") || localStorage.getItem("chess:name") || "";
if (params.get("code")) $("code").value = params.get("code");
const wsLobby = new URL(LOBBY, location.href);
wsLobby.protocol = location.protocol === "https:" ? "wss:" : "ws:";
if (params.get("watch")) {
  $("join").hidden = true;
  $("game").hidden = false;
  drawBoard();
  status("Connecting as a spectator…");
  client.watch(LOBBY, params.get("watch"));
} else if (sessionStorage.getItem("rooms:" + wsLobby.href) && sessionStorage.getItem("chess:join")) {
  start(JSON.parse(sessionStorage.getItem("chess:join")));  // a reload: the stored seat token resumes the game
} else if (params.get("code")) {
  start(joinOptions({ code: params.get("code").toUpperCase() }));
}
