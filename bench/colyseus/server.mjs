// Colyseus, written as its documentation would, running the two games of
// bench/servers/ours_tictactoe.py:
//
//   "tictactoe"  a Room with maxClients = 2: when both have joined, "start";
//                onMessage("move") validates the move (your turn, an empty cell)
//                and broadcasts it; a finished game is announced ("over") and
//                the next one starts in the same room, the other seat first.
//   "match"      the 2-player lobby: the matchmaker's joinOrCreate fills a
//                room of 2, which broadcasts "go"; the players leave on it and
//                the room, empty, is disposed (autoDispose).
//
//   node server.mjs --host 127.0.0.1 --port 2567
//
// One process, the WebSocket transport (ws) that is Colyseus' default, no state
// schema (messages only, as the rooms layer's games are).
import { Room, defineRoom, defineServer } from "colyseus";
import { WebSocketTransport } from "@colyseus/ws-transport";

const LINES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];

export class TicTacToe extends Room {
  maxClients = 2;

  onCreate() {
    this.board = Array(9).fill("");
    this.turn = 0;
    this.first = 0;
    this.onMessage("move", (client, cell) => {
      const seat = this.clients.indexOf(client);
      if (seat !== this.turn) {
        client.send("error", { error: "not_your_turn" });
        return;
      }
      if (!Number.isInteger(cell) || cell < 0 || cell > 8 || this.board[cell]) {
        client.send("error", { error: "illegal_move", detail: `cannot play ${cell}` });
        return;
      }
      const board = this.board;
      board[cell] = "XO"[seat];
      const won = LINES.some(([a, b, c]) => board[a] && board[a] === board[b] && board[b] === board[c]);
      const over = won || board.every((x) => x);
      this.turn = 1 - seat;
      this.broadcast("move", { seat, cell, board, turn: over ? null : this.turn });
      if (over) {
        this.broadcast("over", { winner: won ? seat : null });
        this.newGame(1 - this.first);
      }
    });
  }

  onJoin() {
    if (this.clients.length === 2) {
      this.newGame(0);
    }
  }

  newGame(first) {
    this.board = Array(9).fill("");
    this.first = this.turn = first;
    this.broadcast("start", { board: this.board, turn: first, seats: this.clients.map((c) => c.sessionId) });
  }
}

export class Match extends Room {
  maxClients = 2;

  onJoin() {
    if (this.clients.length === 2) {
      this.broadcast("go", {}); // the players leave on it, and the empty room is disposed
    }
  }
}

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const server = defineServer({
  transport: new WebSocketTransport(),
  rooms: { tictactoe: defineRoom(TicTacToe), match: defineRoom(Match) },
});
await server.listen(Number(option("--port", "2567")), option("--host", "127.0.0.1"));
console.log("READY");
process.on("SIGTERM", () => process.exit(0));
