"""Durable rooms in one process: the input log (MemoryBackend(log=True)) and
adoption by replay, driven by ``Lobby.adopt_room`` on a second server: the
replayed game catches up with nothing sent, the players come back with their
seat tokens, and a game that is not deterministic is caught."""

from __future__ import annotations

import asyncio
import logging
import random

import rooms
import ws
from rooms.log import Kind, RoomLog
from tests.rooms.helpers import seat
from tests.support import Bot, eventually, running, scaled

SECRET = "one secret for both servers of these tests"


async def counting(room: rooms.Room):
    """Six turns; each broadcast carries the room's clock, a random draw and the turn."""
    start = room.now()
    colours = room.random.sample(["x", "o"], 2)
    room.broadcast({"type": "start", "colours": colours, "at": round(start)})
    moves = []
    clock = rooms.Clock(60)
    for i in range(6):
        player = room.players[i % 2]
        try:
            move = await room.turn(player, clock=clock if i % 2 == 0 else None, timeout=30)
        except rooms.TurnTimeout:
            move = None
        moves.append(move)
        room.broadcast({"type": "move", "i": i, "move": move, "draw": room.random.randrange(1000), "t": room.clock() >= 0})
    return {"moves": moves, "colours": colours}


async def careless(room: rooms.Room):
    """Uses the process's randomness: a replay sends something else."""
    room.broadcast({"type": "start", "roll": random.random()})
    async for player, msg in room:
        room.broadcast({"type": "said", "msg": msg})
        if msg == "end":
            return "done"


def app_with(game, backend: rooms.MemoryBackend) -> tuple[ws.App, rooms.Lobby]:
    app = ws.App()
    lobby = rooms.Lobby(2, game, reconnect=10, secret=SECRET, backend=backend)
    app.route("/game")(lobby)
    return app, lobby


def copy_of(log: RoomLog, upto: int | None = None) -> RoomLog:
    again = RoomLog()
    for entry in log.entries[:upto]:
        again.record(list(entry))
    return again


async def test_every_input_is_logged_before_the_game_sees_it():
    backend = rooms.MemoryBackend(2, log=True)
    logs = []
    app = ws.App()
    lobby = rooms.Lobby(2, counting, reconnect=10, backend=backend, on_event=lambda e: e.kind == "ended" and logs.append(e.room.log))
    app.route("/game")(lobby)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("start")
        for i in range(6):
            (a if i % 2 == 0 else b).send({"m": i})
            await a.recv_type("move")
        ended = await a.recv_type("ended")
        assert ended["result"]["moves"] == [{"m": i} for i in range(6)]
    (log,) = logs
    kinds = [entry[0] for entry in log.entries]
    assert kinds[0] == Kind.OPEN.value and log.meta().seats[1].name == "b"
    # Each move: the message logged, then the clock read, then the broadcast's hash.
    messages = [i for i, k in enumerate(kinds) if k == Kind.MESSAGE.value]
    assert len(messages) == 6 and [log.entries[i][1] for i in messages] == [0, 1, 0, 1, 0, 1]
    for i in messages:
        assert Kind.OUTPUT.value in kinds[i:]
    assert log.durable == len(log)


async def test_a_replayed_room_catches_up_and_the_players_resume_with_their_tokens():
    first = rooms.MemoryBackend(2, log=True)
    app, lobby = app_with(counting, first)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        start = await a.recv_type("start")
        for i in range(3):
            (a if i % 2 == 0 else b).send({"m": i})
            await a.recv_type("move")
            await b.recv_type("move")
        (room,) = lobby.rooms
        log = copy_of(room.log)
        kinds = [entry[0] for entry in log.entries]
        assert kinds[0] == Kind.OPEN.value and kinds.count(Kind.MESSAGE.value) == 3
        assert Kind.WALL.value in kinds and Kind.CLOCK.value in kinds and Kind.OUTPUT.value in kinds
        tokens = (a.matched["token"], b.matched["token"])
    # The first server is gone; a second one adopts the room from its log.
    second = rooms.MemoryBackend(2, log=True)
    app2, lobby2 = app_with(counting, second)
    async with running(app2) as server2:
        went_live = []

        def on_live(room: rooms.Room, diverged: bool) -> None:
            went_live.append(diverged)
            second.add_room(lobby2, room)

        adopted = lobby2.adopt_room(log, {}, on_live, server2)
        await eventually(lambda: went_live)
        assert went_live == [False] and not adopted.replaying, (adopted.ended, adopted.result)
        assert not adopted.ended, adopted.result
        a2 = await Bot.connect(server2, token=tokens[0])
        resumed = await a2.recv_type("resumed")
        assert resumed["seat"] == 0
        b2 = await Bot.connect(server2, token=tokens[1])
        await b2.recv_type("resumed")
        for i in range(3, 6):
            (a2 if i % 2 == 0 else b2).send({"m": i})
            move = await a2.recv_type("move")
            assert move["i"] == i
        ended = await a2.recv_type("ended")
        assert ended["result"] == {"moves": [{"m": i} for i in range(6)], "colours": start["colours"]}
        # Nothing applied twice, nothing lost: six messages in the log, in order.
        assert [e[2] for e in adopted.log.entries if e[0] == Kind.MESSAGE.value] == [{"m": i} for i in range(6)]


async def test_a_game_that_is_not_deterministic_is_caught_on_replay(caplog):
    first = rooms.MemoryBackend(2, log=True)
    app, lobby = app_with(careless, first)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("start")
        a.send("hello")
        await b.recv_type("said")
        (room,) = lobby.rooms
        log = copy_of(room.log)
        token = a.matched["token"]
    second = rooms.MemoryBackend(2, log=True)
    app2, lobby2 = app_with(careless, second)
    async with running(app2) as server2:
        caplog.set_level(logging.ERROR, logger="rooms")
        adopted = lobby2.adopt_room(log, {}, lambda room, diverged: second.add_room(lobby2, room), server2)
        await asyncio.wait_for(adopted.wait_ended(), scaled(3))
        assert adopted.result is None
        assert any("not deterministic" in r.getMessage() and "output #1" in r.getMessage() for r in caplog.records)
        assert list(lobby2.results) == []
        again = await Bot.connect(server2, token=token)
        messages, closed = await again.messages_until_closed()
        assert messages[0]["error"] == "unknown_room", (messages, closed)
