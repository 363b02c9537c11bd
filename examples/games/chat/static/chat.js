// The chat page: an open room (/chat/room/{name}) or a group of n
// (/chat/size/{n}, matched by the lobby), both through rooms.js.  The server
// sends welcome / joined / left / chat / error messages (examples/games/chat/app.py).
import { RoomsClient } from "/rooms/rooms.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const client = new RoomsClient();

let me = null;          // our nickname in the room (the server may add a suffix)
let maxText = 500;
let people = [];
let away = new Set();
let finished = false;
let enabled = false;    // connected and welcomed: the input and Send may be used

// ------------------------------------------------------------------ joining

async function loadRooms() {
  try {
    const info = await (await fetch("/chat/rooms")).json();
    const size = $("size");
    size.textContent = "";
    for (const n of info.sizes) {
      const waiting = info.waiting[String(n)] || 0;
      size.add(new Option(`${n} people${waiting ? ` (${waiting} waiting)` : ""}`, String(n)));
    }
    const list = $("open-rooms");
    list.textContent = "";
    for (const room of info.open) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.textContent = room.name;
      a.onclick = () => { $("room-name").value = room.name; };
      li.append(a, ` — ${room.people} ${room.people === 1 ? "person" : "people"}`);
      list.append(li);
    }
    if (!info.open.length) list.innerHTML = "<li class='hint'>No open rooms yet: name one.</li>";
  } catch { /* the form still works */ }
}

function enter(url, title, options) {
  sessionStorage.setItem("chat:join", JSON.stringify({ url, title, options }));
  $("join").hidden = true;
  $("chat").hidden = false;
  $("title").textContent = title;
  status("Connecting…");
  client.connect(url, options);
}

function nickname() {
  const nick = $("nick").value.trim() || "guest";
  localStorage.setItem("chat:nick", nick);
  return nick;
}

$("join-room").onclick = () => {
  const name = $("room-name").value.trim() || "lounge";
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(name)) return alert("A room name has letters, digits, '-' or '_' (at most 32).");
  history.replaceState(null, "", `/chat/?room=${encodeURIComponent(name)}`);
  enter(`/chat/room/${encodeURIComponent(name)}`, `# ${name}`, { name: nickname() });
};
$("join-group").onclick = () => {
  const n = $("size").value;
  enter(`/chat/size/${n}`, `Group of ${n}`, { name: nickname() });
};

// ------------------------------------------------------------------ messages

client.on("lobby", (s) => status(`Waiting for a group: ${s.have} of ${s.need} here…`));
client.on("matched", (m) => status(`Matched with ${m.players.map((p) => p.name).join(", ")}`));
client.on("resumed", (m) => { if (m.state) welcome(m.state); event("You are back in the room."); });
client.on("player_left", (m) => {
  if (m.reconnect) {
    away.add(m.player.name);
    event(`${m.player.name} lost the connection (may come back within ${m.reconnect} s)`);
    drawPeople();
  }
});
client.on("player_returned", (m) => { away.delete(m.player.name); event(`${m.player.name} is back`); drawPeople(); });
client.on("ended", () => { finished = true; status("Everyone has left: the group is closed."); setEnabled(false); });
client.on("error", (e) => showError(e));
client.on("reconnecting", (r) => status(`Connection lost — reconnecting (attempt ${r.attempt})…`));
client.on("close", (c) => {
  setEnabled(false);
  if (!c.reconnecting && !finished) status(`Disconnected${c.code !== 1000 ? ` (${c.code}${c.reason ? ": " + c.reason : ""})` : ""}.`);
});
client.on("message", (msg) => {
  switch (msg.type) {
    case "welcome": welcome(msg); break;
    case "joined": people = msg.people; event(`${msg.nick} joined`); drawPeople(); break;
    case "left": people = msg.people; away.delete(msg.nick); event(`${msg.nick} left`); drawPeople(); break;
    case "chat": line(msg); break;
    case "error": showError(msg); break;
  }
});

function welcome(msg) {
  me = msg.you;
  maxText = msg.limits?.max_text ?? maxText;
  $("text").maxLength = maxText;  // the server's limit (it counts characters; see length() below)
  people = msg.people;
  $("title").textContent = msg.room.startsWith("group") ? `Group: ${msg.room.slice(9)}` : `# ${msg.room}`;
  $("log").textContent = "";
  for (const m of msg.history) line(m);
  status(`You are ${me}. Messages up to ${maxText} characters, ${msg.limits?.rate ?? "a few"} a second.`);
  drawPeople();
  setEnabled(true);
  $("text").focus();
}

function line(msg) {
  const li = document.createElement("li");
  if (msg.nick === me) li.className = "me";
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = new Date(msg.ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const nick = document.createElement("span");
  nick.className = "nick";
  nick.textContent = msg.nick;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = msg.text;
  li.append(time, nick, text);
  append(li);
}

function event(text) {
  const li = document.createElement("li");
  li.className = "event";
  li.textContent = text;
  append(li);
}

function append(li) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function drawPeople() {
  const list = $("people");
  list.textContent = "";
  for (const nick of people) {
    const li = document.createElement("li");
    li.textContent = nick + (nick === me ? " (you)" : "");
    if (away.has(nick)) {
      const span = document.createElement("span");
      span.className = "away";
      span.textContent = " away";
      li.append(span);
    }
    list.append(li);
  }
  $("people-count").textContent = `(${people.length})`;
}

function showError(e) {
  const el = $("notice");
  el.hidden = false;
  el.textContent = e.detail || e.error;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, e.error === "flood" ? 4000 : 6000);
}

// ------------------------------------------------------------------ sending

// Characters as the server counts them (code points, after trimming): an emoji is one.
const length = (text) => [...text.trim()].length;

$("say").onsubmit = (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !enabled) return;
  if (length(text) > maxText) return showError({ error: "too_long", detail: `messages are limited to ${maxText} characters` });
  if (client.send({ type: "say", text })) $("text").value = "";
  counter();
};
// The count under the limit, and Send disabled past it (a paste or a script can
// go past maxlength, and maxlength counts UTF-16 units, not characters).
function counter() {
  const n = length($("text").value);
  $("count").textContent = n ? `${n}/${maxText}` : "";
  $("count").classList.toggle("over", n > maxText);
  $("send").disabled = !enabled || n > maxText;
}
$("text").addEventListener("input", counter);
$("leave").onclick = () => {
  client.leave();
  sessionStorage.removeItem("chat:join");
  location.href = "/chat/";
};

function setEnabled(on) {
  enabled = on;
  $("text").disabled = !on;
  counter();
}
function status(text) { $("status").textContent = text; }

// ------------------------------------------------------------------ on load

$("nick").value = params.get("nick") || localStorage.getItem("chat:nick") || "";
if (params.get("room")) $("room-name").value = params.get("room");
await loadRooms();
const saved = JSON.parse(sessionStorage.getItem("chat:join") || "null");
if (saved && saved.url.startsWith("/chat/size/")) {
  enter(saved.url, saved.title, saved.options);  // a reload: the stored seat token takes the seat back
} else if (params.get("room") && params.get("nick")) {
  $("join-room").click();
}
