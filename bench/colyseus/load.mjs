// The load generator of bench/colyseus.py: one Node process driving either side,
// each through its own protocol, with the same WebSocket client underneath (the
// `ws` package, which @colyseus/sdk uses in Node too).
//
//   node load.mjs '{"load": "moves", "target": "ours", "url": "http://127.0.0.1:8765", ...}'
//
// loads:
//   matchmaking  `concurrency` players at a time join the 2-player lobby, wait for
//                "go", let the room end (ours closes it; Colyseus' players leave it,
//                as its rooms are disposed once empty), and join again; players
//                matched per second.
//   moves        `players` players join tic-tac-toe rooms of 2 and play: on its turn a
//                player thinks `think` seconds (jittered 0.5x-1.5x), then plays the first
//                empty cell; move round trip = its move sent to its broadcast received.
//                The server's RSS before and after everyone is seated gives the memory
//                per connected player.
// targets: "colyseus" (@colyseus/sdk: the matchmaker's joinOrCreate, then the room's
// messages) and "ours" (one WebSocket to the lobby's route, JSON messages).
// Every loop is bounded: connects by `connect_timeout`, the run by warm-up + duration.
// Prints one JSON line.
import { readFileSync } from "node:fs";
import { Client } from "@colyseus/sdk";
import WebSocket from "ws";

const spec = JSON.parse(process.argv[2]);
const MAX_PLAYERS = 12000;
const now = () => performance.now() / 1000;
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

function rss(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
    return Number(line.split(/\s+/)[1]) * 1024;
  } catch {
    return null;
  }
}

function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return null;
  }
}

function percentile(values, q) {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// -- one player, either protocol: join(kind) resolves once seated; callbacks per message.

class OursPlayer {
  constructor(base, path) {
    this.url = base.replace(/^http/, "ws") + path;
  }
  join(handlers) {
    return new Promise((resolve, reject) => {
      const sock = (this.sock = new WebSocket(this.url, { perMessageDeflate: false }));
      sock.on("open", resolve);
      sock.on("error", reject);
      sock.on("close", () => handlers.closed?.());
      sock.on("message", (data) => {
        const msg = JSON.parse(data);
        if (msg.type === "matched") this.seat = msg.seat;
        handlers[msg.type]?.(msg);
      });
    });
  }
  move(cell) {
    this.sock.send(JSON.stringify({ cell }));
  }
  leave() {
    this.sock.close(1000);
  }
}

class ColyseusPlayer {
  constructor(client, roomName) {
    this.client = client;
    this.roomName = roomName;
  }
  async join(handlers) {
    const room = (this.room = await this.client.joinOrCreate(this.roomName));
    for (const type of ["start", "move", "over", "go", "error"]) {
      room.onMessage(type, (msg) => {
        if (type === "start") this.seat = msg.seats.indexOf(room.sessionId);
        handlers[type]?.({ type, ...msg });
      });
    }
    room.onLeave(() => handlers.closed?.());
  }
  move(cell) {
    this.room.send("move", cell);
  }
  leave() {
    this.room.leave(true);
  }
}

function player(kind) {
  const base = spec.url;
  if (spec.target === "colyseus") {
    const client = new Client(base);
    return new ColyseusPlayer(client, kind === "match" ? "match" : "tictactoe");
  }
  return new OursPlayer(base, kind === "match" ? "/match" : "/tictactoe");
}

// -- loads

async function matchmaking() {
  const concurrency = spec.concurrency;
  if (!(concurrency > 1 && concurrency <= 2000)) throw new Error("matchmaking load out of bounds");
  const window = { open: false, matched: 0, errors: 0 };
  const latencies = [];
  let running = true;

  async function one() {
    while (running) {
      const p = player("match");
      const began = now();
      let done;
      const ended = new Promise((resolve) => (done = resolve));
      let timer;
      try {
        await Promise.race([
          p.join({
            go: () => {
              if (window.open) { window.matched++; latencies.push(now() - began); }
              if (spec.target === "colyseus") p.leave(); // there the players leave; ours ends the room
            },
            closed: () => done(),
          }),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("join timeout")), 10000))),
        ]);
        await Promise.race([ended, sleep(10)]);
      } catch {
        if (window.open) window.errors++;
        await sleep(0.05);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  const workers = Array.from({ length: concurrency }, one);
  const measured = await measure(window);
  running = false;
  await Promise.race([Promise.allSettled(workers), sleep(12)]);
  const elapsed = measured.seconds;
  return {
    value: window.matched / elapsed, players_matched: window.matched, concurrency,
    join_p50_ms: percentile(latencies, 0.5) * 1e3, join_p99_ms: percentile(latencies, 0.99) * 1e3,
    errors: window.errors, ...measured,
  };
}

// The measurement window, the same for every load: after the warm-up, `window.open`
// for `spec.duration` seconds, with the server's and this process's CPU over it.
async function measure(window) {
  await sleep(spec.warmup);
  window.open = true;
  const t0 = now(), c0 = cpuSeconds(spec.server_pid), u0 = process.cpuUsage();
  await sleep(spec.duration);
  window.open = false;
  const t1 = now(), c1 = cpuSeconds(spec.server_pid), u1 = process.cpuUsage(u0);
  const seconds = t1 - t0;
  return {
    seconds,
    server_cpu: c0 === null || c1 === null ? null : (c1 - c0) / seconds,
    client_cpu: (u1.user + u1.system) / 1e6 / seconds,
  };
}

async function moves() {
  const n = spec.players;
  const think = spec.think;
  if (!(n >= 2 && n <= MAX_PLAYERS && n % 2 === 0 && think > 0 && think <= 10)) throw new Error("moves load out of bounds");
  const window = { open: false, errors: 0, moves: 0 };
  const latencies = [];
  let running = true;
  const players = [];
  const rss0 = rss(spec.server_pid);

  function bot() {
    const p = player("tictactoe");
    let sentAt = null;
    let timer = null;
    const play = (board) => {
      timer = setTimeout(() => {
        timer = null;
        if (!running) return;
        sentAt = now();
        p.move(board.indexOf(""));
      }, think * (0.5 + Math.random()) * 1000);
    };
    const handlers = {
      start: (msg) => { if (msg.turn === p.seat) play(msg.board); },
      move: (msg) => {
        if (msg.seat === p.seat && sentAt !== null) {
          if (window.open) { latencies.push(now() - sentAt); window.moves++; }
          sentAt = null;
        }
        if (msg.turn === p.seat) play(msg.board);
      },
      error: () => { if (window.open) window.errors++; },
      closed: () => { if (running) window.errors++; },
    };
    p.stop = () => { if (timer !== null) clearTimeout(timer); };
    p.joined = p.join(handlers);
    return p;
  }

  // Join in waves of `connect_concurrency`, bounded in time.
  const t_connect = now();
  const wave = spec.connect_concurrency ?? 100;
  const deadline = t_connect + (spec.connect_timeout ?? 60);
  for (let i = 0; i < n; i += wave) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + wave); j++) {
      const p = bot();
      players.push(p);
      batch.push(p.joined);
    }
    const left = deadline - now();
    if (left <= 0) throw new Error(`could not seat ${n} players within the connect timeout`);
    await Promise.race([Promise.all(batch), sleep(left).then(() => { throw new Error("connect timeout"); })]);
  }
  const connectSeconds = now() - t_connect;
  await sleep(Math.min(2, 0.5 + n / 5000)); // the last rooms start
  const rss1 = rss(spec.server_pid);

  const measured = await measure(window);
  running = false;
  for (const p of players) p.stop();
  await sleep(0.3);
  for (const p of players) {
    try { p.leave(); } catch { /* already gone */ }
  }
  await sleep(Math.min(5, 0.5 + n / 4000));
  return {
    value: percentile(latencies, 0.99) * 1e3, p50_ms: percentile(latencies, 0.5) * 1e3, p99_ms: percentile(latencies, 0.99) * 1e3,
    moves: window.moves, moves_per_s: window.moves / measured.seconds, players: n, think,
    connect_seconds: connectSeconds, rss_before: rss0, rss_seated: rss1,
    bytes_per_player: rss0 === null || rss1 === null ? null : (rss1 - rss0) / n,
    errors: window.errors, ...measured,
  };
}

const loads = { matchmaking, moves };
if (!(spec.duration > 0 && spec.duration <= 120 && spec.warmup >= 0 && spec.warmup <= 120)) throw new Error("duration out of bounds");
const result = await loads[spec.load]();
console.log(JSON.stringify(result));
process.exit(0);
