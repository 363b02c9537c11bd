// The chess page: joins the lobby with rooms.js, draws the board from the
// server's state (FEN, moves, clocks), sends moves made by click or drag.
// The server decides everything: legality, clocks, results.
import { RoomsClient } from "/rooms/rooms.js";

const $ = (id) => document.getElementById(id);
const LOBBY = "/chess/ws";
const GLYPH = { k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟" };
const FILES = "abcdefgh";
const START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";
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

// A name typed while the page loads is the player's: fill the field only if it is
// still empty, and before anything is awaited (the config arrives later).
const savedName = params.get("name") || localStorage.getItem("chess:name") || "";
if (!$("name").value) $("name").value = savedName;

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
  $("actions").hidden = true;   // nothing to resign or offer before the game starts
  $("waiting").hidden = false;  // with Cancel, to leave the queue
  $("invite").hidden = $("copy-invite").hidden = true;
  drawBoard();
  status("Connecting…");
  client.connect(LOBBY, options);
}

// Leave the queue and show the form again (the page keeps the name and the choices).
function cancel() {
  client.leave();
  sessionStorage.removeItem("chess:join");
  code = null;
  $("waiting").hidden = true;
  $("game").hidden = true;
  $("join").hidden = false;
  notice("");
  if (location.search) history.replaceState(null, "", "/chess/");
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
  $("waiting").hidden = false;
  if (!code) {
    status(`Waiting for an opponent (${s.have} of ${s.need}) · ${$("mode").value || ""}`);
    return;
  }
  // The code alone finds the game: the friend plays this time control whatever their page shows.
  const link = `${location.origin}/chess/?code=${code}`;
  status(`Private game ${code} · ${$("mode").value || ""}: waiting for your friend`);
  $("invite").hidden = $("copy-invite").hidden = false;
  $("invite-code").textContent = code;
  $("invite-link").href = link;
  $("invite-link").textContent = link.replace(/^https?:\/\//, "");
});
client.on("matched", (m) => { mySeat = m.seat; $("waiting").hidden = true; notice(""); status("Matched — starting…"); });
client.on("resumed", (m) => {
  mySeat = m.seat;
  $("waiting").hidden = true;
  notice("You are back in your game.");
  if (m.state) setState(m.state);
});
client.on("spectating", (m) => {
  mySeat = null;
  $("waiting").hidden = true;
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
  $("rematch").hidden = !myColor;  // a spectator may download the PGN, not ask for a rematch
  if (e.result && e.result.pgn) lastPgn = e.result.pgn;
  if (!state || !state.outcome) status("The game is over.");
  else if (myColor && $("notice").hidden) notice("The room is closed: no rematch.");
});
client.on("error", (e) => notice(e.detail || e.error, true));
client.on("reconnecting", (r) => status(`Connection lost — reconnecting (attempt ${r.attempt})…`));
client.on("close", (c) => {
  if (c.reconnecting) return;
  $("waiting").hidden = true;
  $("actions").hidden = true;
  if (!ended) {
    if (c.code === 4004) status("No such game (finished, or a wrong code).");
    else if (c.code !== 1000) status(`Disconnected (${c.code}${c.reason ? ": " + c.reason : ""}).`);
  }
  // Over for good: offer the way back (after a game, Leave in #after does it).
  if ($("after").hidden) $("back").hidden = false;
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
  $("info").textContent = `${s.time_control.name} · game ${s.game}`;
  drawBoard();
  drawMoves();
  drawPlayers();
  tick();
  const result = $("status").classList;
  result.remove("won", "lost", "drawn");
  if (s.outcome) {
    const [line, kind] = outcomeText(s.outcome, s);
    status(`Game over: ${s.outcome.result} — ${line}`);
    if (kind) result.add(kind);
  } else if (myColor) {
    status(s.turn === myColor ? `Your move (${myColor})` : `Waiting for ${s.turn}…`);
  } else {
    status(`Watching: ${s.turn} to move`);
  }
}

const cap = (word) => word[0].toUpperCase() + word.slice(1);

// The game-over line, spoken to whoever reads it: [text, "won" | "lost" | "drawn" | null].
function outcomeText(o, s) {
  if (o.reason === "aborted") return [`Game aborted: ${s.turn === myColor ? "you" : cap(s.turn)} made no first move in time`, null];
  const loser = o.winner === "white" ? "black" : "white";
  const mine = myColor && o.winner === myColor, theirs = myColor && o.winner && o.winner !== myColor;
  const reasons = {
    checkmate: "checkmate",
    resignation: mine ? "your opponent resigned" : theirs ? "you resigned" : `${cap(loser)} resigned`,
    timeout: mine ? "your opponent ran out of time" : theirs ? "you ran out of time" : `${cap(loser)} ran out of time`,
    abandoned: mine ? "your opponent left the game" : theirs ? "you left the game" : `${cap(loser)} left the game`,
    agreement: "by agreement",
    "timeout vs insufficient material": "time ran out, but the other side cannot mate",
  };
  const reason = reasons[o.reason] ?? o.reason;
  if (!o.winner) return [`Draw (${reason})`, myColor ? "drawn" : null];
  if (!myColor) return [`${s.names[o.winner]} (${o.winner}) won (${reason})`, null];
  return mine ? [`You won (${reason})`, "won"] : [`You lost (${reason})`, "lost"];
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
  const pieces = parseFen(state ? state.fen : START_FEN);  // the start position while waiting
  board.classList.toggle("idle", !state);
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
  const firstMove = $("first-move");
  firstMove.hidden = state.first_move == null || !!state.outcome;
  if (!firstMove.hidden) {
    const left = Math.max(0, Math.ceil(state.first_move - elapsed));
    firstMove.textContent = `The clocks start with White's first move (${myColor === "white" ? "you have" : "White has"} ${left} s to make it, or the game is aborted).`;
  }
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

// Why a click on *square* does nothing, in words (null: a click on nothing, say nothing).
function whyNot(square) {
  const piece = parseFen(state ? state.fen : START_FEN)[square];
  if (!state) return piece ? "The game has not started yet." : null;
  if (!myColor) return "You are watching: spectators cannot move.";
  if (state.outcome) return "The game is over.";
  if (!piece) return null;
  const color = piece === piece.toUpperCase() ? "white" : "black";
  if (color !== myColor) return `That is a ${color} piece: you play ${myColor}.`;
  return `Not your turn: ${cap(state.turn)} to move.`;
}

function refuse(square) {
  const why = whyNot(square);
  if (!why) return;
  notice(why);
  const el = $("board").querySelector(`[data-square="${square}"]`);
  el?.classList.add("refused");
  el?.addEventListener("animationend", () => el.classList.remove("refused"), { once: true });
}

$("board").addEventListener("pointerdown", (event) => {
  const square = squareAt(event.clientX, event.clientY);
  if (!square) return;
  if (selected && selected !== square && !mine(square)) {  // second click: the target
    return tryMove(selected, square);
  }
  if (!mine(square)) { selected = null; drawBoard(); return refuse(square); }
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
$("cancel").onclick = cancel;
$("copy-invite").onclick = () => copy($("invite-link").href, $("copy-invite"));
$("copy-watch").onclick = () => copy($("watch-link").href, $("copy-watch"));

async function copy(text, button) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (a plain-http page on another host): copy a selection instead.
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
}

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
} else if (params.get("code") && $("name").value.trim()) {
  start(joinOptions({ code: params.get("code").toUpperCase() }));  // an invite link, and we know your name
} else if (params.get("code")) {
  $("join-code").classList.add("primary");  // an invite link: say who you are, then join
  $("name").focus();
}
