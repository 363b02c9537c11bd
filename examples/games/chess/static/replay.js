// The replay page: steps through an archived game move by move (buttons and
// arrow keys), the board and both clocks as they stood after each move.
// Reads /chess/games/<room> (examples/games/chess/web.py).
"use strict";
const $ = (id) => document.getElementById(id);
const PIECES = { K: "♔", Q: "♕", R: "♖", B: "♗", N: "♘", P: "♙", k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟" };
const room = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
let game = null;
let ply = 0;

function clock(seconds) {
  const tenths = Math.round(Math.max(0, seconds) * 10);  // rounded once, so 59.96 s shows 1:00.0
  const m = Math.floor(tenths / 600);
  const rest = (tenths - m * 600) / 10;
  return `${m}:${rest < 10 ? "0" : ""}${rest.toFixed(1)}`;
}

function drawBoard(fen, lastUci) {
  const board = $("board");
  board.replaceChildren();
  const rows = fen.split(" ")[0].split("/");
  const from = lastUci ? lastUci.slice(0, 2) : null;
  const to = lastUci ? lastUci.slice(2, 4) : null;
  rows.forEach((row, r) => {
    let file = 0;
    for (const ch of row) {
      if (/\d/.test(ch)) {
        for (let i = 0; i < Number(ch); i++) addSquare(board, r, file++, "", from, to);
      } else {
        addSquare(board, r, file++, ch, from, to);
      }
    }
  });
  board.dataset.fen = fen;
}

function addSquare(board, r, f, piece, from, to) {
  const square = "abcdefgh"[f] + (8 - r);
  const div = document.createElement("div");
  div.className = (r + f) % 2 ? "dark" : "light";
  if (square === from || square === to) div.classList.add("last");
  div.dataset.square = square;
  if (piece) { div.textContent = PIECES[piece] + "\uFE0E"; div.dataset.piece = piece; }
  board.appendChild(div);
}

function show(n) {
  if (!game) return;
  ply = Math.max(0, Math.min(n, game.fens.length - 1));
  drawBoard(game.fens[ply], ply ? game.uci[ply - 1] : null);
  $("board").dataset.ply = String(ply);
  const clocks = game.clocks[ply] || game.clocks[game.clocks.length - 1];
  $("clock-white").textContent = `${game.names.white} ${clock(clocks.white)}`;
  $("clock-black").textContent = `${game.names.black} ${clock(clocks.black)}`;
  const whiteToMove = ply % 2 === 0;
  $("clock-white").classList.toggle("turn", whiteToMove && ply < game.fens.length - 1);
  $("clock-black").classList.toggle("turn", !whiteToMove && ply < game.fens.length - 1);
  $("ply").textContent = `${ply} / ${game.fens.length - 1}`;
  document.querySelectorAll("#moves li span").forEach((span) => span.classList.toggle("current", Number(span.dataset.ply) === ply));
}

function render(data, index) {
  game = data.games[index];
  const o = game.outcome;
  $("title").textContent = `${game.names.white} vs ${game.names.black} (${game.time_control})`;
  $("players").textContent = data.players.map((p) => p.name + (p.rating ? ` (${Math.round(p.rating)})` : "")).join(" – ");
  $("result").textContent = o ? `${o.result}, ${o.reason}` : "unfinished";
  $("pgn-link").href = `/chess/games/${encodeURIComponent(data.room)}/pgn`;
  const moves = $("moves");
  moves.replaceChildren();
  for (let i = 0; i < game.moves.length; i += 2) {
    const li = document.createElement("li");
    for (const k of [i, i + 1]) {
      if (k >= game.moves.length) break;
      const span = document.createElement("span");
      span.textContent = game.moves[k];
      span.dataset.ply = String(k + 1);
      span.onclick = () => show(k + 1);
      li.appendChild(span);
    }
    moves.appendChild(li);
  }
  const tabs = $("game-tabs");
  tabs.replaceChildren();
  if (data.games.length > 1) {
    data.games.forEach((_, i) => {
      const a = Object.assign(document.createElement("a"), { href: `?game=${i + 1}`, textContent: `Game ${i + 1}` });
      tabs.append(a, " ");
    });
  }
  show(0);
}

async function load() {
  const response = await fetch(`/chess/games/${encodeURIComponent(room)}`);
  const data = await response.json();
  if (!response.ok || !data.games || !data.games.length) {
    $("error").hidden = false;
    $("error").textContent = data.detail || "no finished game with this id";
    return;
  }
  const wanted = Number(new URLSearchParams(location.search).get("game") || data.games.length);
  render(data, Math.min(Math.max(wanted, 1), data.games.length) - 1);
}

$("first").onclick = () => show(0);
$("prev").onclick = () => show(ply - 1);
$("next").onclick = () => show(ply + 1);
$("last").onclick = () => show(Infinity);
document.addEventListener("keydown", (event) => {
  const keys = { ArrowLeft: () => show(ply - 1), ArrowRight: () => show(ply + 1), Home: () => show(0), End: () => show(Infinity) };
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
});
load();
