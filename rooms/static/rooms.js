// rooms.js: a browser client for the rooms wire protocol (docs/protocol.md).
// A plain ES module: no build step, no dependencies.  Served by the example
// server at /rooms/rooms.js.
//
//   import { RoomsClient } from "/rooms/rooms.js";
//   const client = new RoomsClient();
//   client.on("lobby", (s) => show(`waiting: ${s.have} of ${s.need}`));
//   client.on("matched", (m) => start(m.seat, m.players));
//   client.on("message", (msg) => render(msg));       // the game's own messages
//   client.on("ended", (e) => gameOver(e.result));
//   client.connect("/tictactoe", { name: "alice" });
//   client.send({ cell: 4 });                          // JSON in a text frame
//
// Events (EventTarget; `on(type, fn)` passes `event.detail` to fn):
//   lobby, matched, player_left, player_returned, resumed, spectating, ended,
//   error      the framework's messages, detail = the decoded JSON object
//              (a game's own {"type": "error"} arrives here too);
//   message    any other JSON message (the game's), or an ArrayBuffer for a
//              binary frame (msgpack: decode it yourself);
//   reconnecting {attempt, delay}  before each automatic reconnect;
//   close      {code, reason, reconnecting, moved}  the socket closed;
//              `reconnecting` says whether the client will try again, `moved`
//              that the room is moving to another server (1012 without `ended`).
//
// Reconnecting: after `matched` the seat token is kept in sessionStorage under
// "rooms:" + the lobby URL.  When the socket drops unexpectedly the client
// reconnects with ?token= (exponential backoff, for at most the room's
// `reconnect` seconds); a page reload within that time resumes the game too,
// since connect() tries a stored token first (and joins the lobby normally if
// the server refuses it).  No retry after the close codes in FINAL, after
// `ended`, or after leave().  A spectator (watch) retries the same way.
//
// Host moved (a durable room on a cluster, docs/protocol.md): when the server
// hosting the room dies or restarts, the room goes on on another one.  A
// client connected to another server stays connected and gets `resumed` again
// (redraw from its state); a client of the server that went is closed (1006,
// or 1012 "room moved ...: reconnect with your seat token", with no `ended`
// before it) and reconnects by itself with its token, through any server; it
// may be told 1013 (try again) while the room is moving, and retries.

const RESERVED = new Set([
  "lobby", "matched", "player_left", "player_returned", "resumed", "spectating", "ended", "error",
]);

// 1000 game over (or we left), 4000 lobby timeout, 4001 invalid token,
// 4002 seat unavailable, 4004 unknown room, 4005 replaced by another
// connection (another tab took the seat), 4006 seat expired.
export const FINAL = new Set([1000, 4000, 4001, 4002, 4004, 4005, 4006]);

export class RoomsClient extends EventTarget {
  /**
   * @param {object} [options]
   * @param {number} [options.baseDelay=500]   first reconnect delay (ms), doubled each attempt
   * @param {number} [options.maxDelay=8000]   ceiling of the delay (ms)
   * @param {number} [options.maxAttempts=20]  give up after this many attempts
   * @param {Storage|null} [options.storage=sessionStorage]  where seat tokens live
   */
  constructor({ baseDelay = 500, maxDelay = 8000, maxAttempts = 20, storage } = {}) {
    super();
    this.baseDelay = baseDelay;
    this.maxDelay = maxDelay;
    this.maxAttempts = maxAttempts;
    this.storage = storage !== undefined ? storage : globalThis.sessionStorage ?? null;
    this.socket = null;
    this.state = "idle"; // idle | connecting | waiting | playing | watching | reconnecting | closed
    this.room = null;    // room id, once matched (or watching)
    this.seat = null;    // our seat number
    this.players = [];   // [{seat, name, connected}], kept current
    this._lobby = null;  // lobby URL without query: the storage key
    this._join = null;   // query of the first join, for a fallback after a stale token
    this._resume = null; // what to reconnect with: {token} or {watch}
    this._fromStorage = false;
    this._attempt = 0;
    this._deadline = Infinity;
    this._timer = null;
    this._grace = undefined; // ms the server holds our seat after a drop
    this._player = false;    // connect() (true) or watch() (false): only players store tokens
  }

  /** Call fn(detail) for each event of this type; returns a function that unsubscribes. */
  on(type, fn) {
    const listener = (event) => fn(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** Join the lobby at url (ws:, wss:, http(s): or a path on this page's host).
   *  name: display name; mode: sent as ?mode= for the app's mode hook; code:
   *  "new" to create a private room, or the code to join one; params: any other
   *  query parameters.  A stored seat token for this lobby is tried first. */
  connect(url, { name, mode, code, params = {} } = {}) {
    this._reset();
    this._player = true;
    this._lobby = lobbyUrl(url);
    this._join = { ...params, name, mode, code };
    const saved = this._load();
    if (saved) {
      this._fromStorage = true;
      this._resume = { token: saved.token };
      this._deadline = Infinity;
      this._open({ token: saved.token });
    } else {
      this._open(this._join);
    }
    return this;
  }

  /** Watch the running room roomId of the lobby at url, as a spectator. */
  watch(url, roomId) {
    this._reset();
    this._player = false;
    this._lobby = lobbyUrl(url);
    this._resume = { watch: roomId };
    this._open({ watch: roomId });
    return this;
  }

  /** Send obj as JSON in a text frame; false if not connected. */
  send(obj) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(obj));
    return true;
  }

  /** Leave for good: close with 1000, forget the seat token, never reconnect. */
  leave() {
    this._forget();
    this._reset();
    this.state = "closed";
  }

  // ------------------------------------------------------------------ internals

  _open(query) {
    const target = new URL(this._lobby);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, String(value));
    }
    const socket = new WebSocket(target.href);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    if (this.state !== "reconnecting") this.state = "connecting";
    socket.onmessage = (event) => socket === this.socket && this._received(event.data);
    socket.onclose = (event) => socket === this.socket && this._closed(event.code, event.reason);
  }

  _received(data) {
    if (typeof data !== "string") return this._emit("message", data);
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return this._emit("message", data);
    }
    const type = msg && typeof msg === "object" ? msg.type : undefined;
    if (!RESERVED.has(type)) return this._emit("message", msg);
    if (type === "error" && this._fromStorage) return; // a stale stored token: we fall back quietly
    if (type === "lobby") this.state = "waiting";
    if (type === "matched" || type === "resumed" || type === "spectating") {
      this.room = msg.room;
      this.players = msg.players;
      this._attempt = 0;
      this._fromStorage = false;
      if (type === "spectating") {
        this.state = "watching";
      } else {
        this.state = "playing";
        this.seat = msg.seat;
        const reconnect = type === "matched" ? msg.reconnect : this._load()?.reconnect;
        this._grace = reconnect == null ? 0 : reconnect * 1000;
        if (type === "matched") {
          // No `reconnect`: the server holds no seat for us, so there is nothing to resume.
          this._resume = reconnect == null ? null : { token: msg.token };
          if (this._resume) this._save({ token: msg.token, room: msg.room, seat: msg.seat, reconnect });
        }
      }
    }
    if (type === "player_left" || type === "player_returned") {
      this.players = this.players.map((p) => (p.seat === msg.player.seat ? msg.player : p));
    }
    if (type === "ended") {
      this._forget();
      this._resume = null;
    }
    this._emit(type, msg);
  }

  _closed(code, reason) {
    this.socket = null;
    if (this._fromStorage && [4001, 4002, 4004].includes(code)) {
      // The stored seat is over: join the lobby as asked.
      this._fromStorage = false;
      this._forget();
      this._resume = null;
      return this._open(this._join);
    }
    if (FINAL.has(code)) {
      this._forget();
      this._resume = null;
    }
    if (this._resume && this._attempt === 0) this._deadline = Date.now() + (this._grace ?? Infinity);
    const again = !!this._resume && this._attempt < this.maxAttempts && Date.now() < this._deadline;
    this.state = again ? "reconnecting" : "closed";
    this._emit("close", { code, reason, reconnecting: again, moved: code === 1012 && again });
    if (!again) return;
    const delay = Math.min(this.maxDelay, this.baseDelay * 2 ** this._attempt) * (0.8 + 0.4 * Math.random());
    this._attempt += 1;
    this._emit("reconnecting", { attempt: this._attempt, delay });
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._resume) this._open(this._resume);
    }, delay);
  }

  _reset() {
    clearTimeout(this._timer);
    this._timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "leaving");
    this._resume = null;
    this._fromStorage = false;
    this._attempt = 0;
    this._deadline = Infinity;
    this._grace = undefined;
    this.room = this.seat = null;
    this.players = [];
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _key() {
    return "rooms:" + this._lobby;
  }

  _load() {
    try {
      const text = this.storage?.getItem(this._key());
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  _save(value) {
    if (!this._player) return;
    try {
      this.storage?.setItem(this._key(), JSON.stringify(value));
    } catch {
      /* storage full or disabled: reconnecting still works until a reload */
    }
  }

  _forget() {
    if (this._player && this._lobby) this.storage?.removeItem(this._key());
  }
}

/** The lobby's ws:// or wss:// URL without query or fragment: the storage key. */
function lobbyUrl(url) {
  const base = globalThis.location?.href;
  const target = base ? new URL(url, base) : new URL(url);
  if (target.protocol === "http:") target.protocol = "ws:";
  if (target.protocol === "https:") target.protocol = "wss:";
  target.search = "";
  target.hash = "";
  return target.href;
}
