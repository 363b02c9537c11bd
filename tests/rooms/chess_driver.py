"""A chess player for the durable-room tests: plays a fixed script of moves
against another, from whatever state the server shows it, and reconnects with
its seat token (through any live node, with backoff) whenever the server's
close says the seat is still held: so a game survives its host's death.

The script: :data:`MOVES` (a random legal game, no mate), white offering a
draw at ply :data:`DRAW_PLY` and black declining it, then the side to move
resigning.  :func:`canonical` compares two PGNs without the players' names
(colours are drawn by ``room.random``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import ws
from tests.support import scaled

MOVES = ['f2f3', 'f7f6', 'a2a4', 'd7d5', 'g2g3', 'd8d6', 'e2e3', 'd6c5', 'f1a6', 'c8g4', 'e1e2', 'c5c4', 'd2d3',
         'c4e4', 'a6b7', 'c7c6', 'd3e4', 'e7e6', 'b7a8', 'e8d8', 'a8b7', 'g8e7', 'b1c3', 'h7h5']  # fmt: skip
DRAW_PLY = 10
RETRY = (1006, 1012, 1013, 1001, 4004)  # closes after which a seat holder tries again


def canonical(pgn: str) -> str:
    return "\n".join(line for line in pgn.splitlines() if not line.startswith(("[White ", "[Black ")))


class ChessBot:
    """One player; ``node`` is where it connects first."""

    def __init__(self, name: str, node: Any, mode: str = "blitz") -> None:
        self.name = name
        self.node = node
        self.mode = mode
        self.sock: ws.WebSocket | None = None
        self.token: str | None = None
        self.seat: int | None = None
        self.state: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.pgn: str | None = None
        self.closes: list[tuple[int | None, str]] = []
        self.resumed: list[dict[str, Any]] = []
        self.resumed_at: list[float] = []
        self.trace: list[Any] = []
        self.offers = 0  # draw offers seen
        self.state_at = 0.0  # when the last state came
        self.sent_at: dict[int, int] = {}  # ply -> connection number that sent it
        self.connection = 0
        self.declined = False
        self.stop_at: int | None = None  # do nothing from this ply on (the test holds the game there)
        self.hold_draw = False  # at DRAW_PLY: offer, then hold

    def send(self, obj: Any) -> None:
        assert self.sock is not None
        self.trace.append(("sent", obj.get("type")))
        if not self.sock.closed:
            self.sock.text(json.dumps(obj))

    async def connect(self, node: Any, **query: Any) -> None:
        self.sock = await asyncio.wait_for(ws.connect(node.url("/chess/ws", **query)), scaled(5))
        self.connection += 1

    async def join(self) -> dict[str, Any]:
        await self.connect(self.node, name=self.name, mode=self.mode)
        while True:
            msg = await self.recv()
            if msg.get("type") == "matched":
                self.token, self.seat = msg["token"], msg["seat"]
                return msg

    async def recv(self) -> dict[str, Any]:
        assert self.sock is not None
        msg = json.loads(await asyncio.wait_for(self.sock, scaled(60)))
        self.trace.append((msg.get("type"), msg.get("error"), (msg.get("state") or {}).get("draw_offer")))
        if isinstance(msg.get("state"), dict):
            self.state = msg["state"]
            self.state_at = time.monotonic()
        elif self.state is not None and msg.get("type") in ("draw_offer", "draw_declined"):
            self.state["draw_offer"] = msg["by"] if msg["type"] == "draw_offer" else None
            self.declined = self.declined or msg["type"] == "draw_declined"
            self.offers += msg["type"] == "draw_offer"
        return msg

    @property
    def color(self) -> str | None:
        state = self.state or {}
        for color, who in (state.get("colors") or {}).items():
            if who["seat"] == self.seat:
                return color
        return None

    @property
    def ply(self) -> int:
        return len((self.state or {}).get("uci") or [])

    def act(self) -> None:
        """Do what the script says for the state the server last showed."""
        state = self.state
        if not state or state.get("outcome") or self.pgn is not None:
            return
        ply, me = self.ply, self.color
        if self.stop_at is not None and ply >= self.stop_at:
            return
        if ply == DRAW_PLY:  # decided by the server's state (what this bot sent may be lost)
            offer = state.get("draw_offer")
            if offer == "white":
                if me == "black" and not self.hold_draw and self.sent_at.get(-2) != (self.connection, self.offers):
                    self.sent_at[-2] = (self.connection, self.offers)  # each offer is declined
                    self.send({"type": "decline_draw"})
                return
            if not self.declined:
                if me == "white" and state.get("turn") == "white" and self.sent_at.get(-1) != self.connection:
                    self.sent_at[-1] = self.connection
                    self.send({"type": "offer_draw"})
                return
        if state.get("turn") != me or self.sent_at.get(ply) == self.connection:
            return
        self.sent_at[ply] = self.connection
        if ply < len(MOVES):
            self.send({"type": "move", "uci": MOVES[ply]})
        else:
            self.send({"type": "resign"})

    async def play(self, nodes: list[Any], rng: random.Random) -> dict[str, Any]:
        """Play until the room ends, reconnecting through a live node as needed."""
        backoff = 0.05
        while True:
            try:
                self.act()
                while True:
                    msg = await self.recv()
                    kind = msg.get("type")
                    if kind == "draw_declined":
                        self.declined = True
                    elif kind == "resumed":
                        self.resumed.append(msg)
                        self.connection += 1  # what we sent before may be lost: the state says
                        self.resumed_at.append(time.monotonic())
                    elif kind == "game_over":
                        self.pgn = msg["pgn"]
                        self.send({"type": "leave"})
                    elif kind == "ended":
                        self.result = msg
                        return msg
                    self.act()
            except ws.Closed as exc:
                self.closes.append((exc.code, exc.reason))
                if exc.code not in RETRY or self.token is None:
                    raise
                if [c for c, _ in self.closes[-3:]] == [4004] * 3:
                    return {"type": "over", "room": (self.state or {}).get("room")}  # it ended while we were away
            except (OSError, asyncio.TimeoutError) as exc:
                self.closes.append((None, repr(exc)))
            await asyncio.sleep(backoff * (1 + rng.random()))  # a client's reconnect backoff, as rooms.js's
            backoff = min(backoff * 2, 1.0)
            live = [n for n in nodes if n.alive]
            try:
                await self.connect(rng.choice(live), token=self.token)
            except (OSError, asyncio.TimeoutError, ws.HandshakeError if hasattr(ws, "HandshakeError") else OSError):
                continue

    async def until(self, predicate, timeout: float = 10.0) -> None:
        """Read (acting on the script) until *predicate(self)*."""
        async with asyncio.timeout(scaled(timeout)):
            self.act()
            while not predicate(self):
                msg = await self.recv()
                if msg.get("type") == "draw_declined":
                    self.declined = True
                self.act()
