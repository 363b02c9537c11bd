"""Durable rooms in one process: the input log (MemoryBackend(log=True)) and
adoption by replay, driven by ``Lobby.adopt_room`` on a second server: the
replayed game catches up with nothing sent, the players come back with their
seat tokens, and a game that is not deterministic is caught."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

import rooms
import ws
from rooms.log import Kind, RoomLog
from tests.rooms.helpers import ServerSockets, seat
from tests.support import Bot, close_all, eventually, running, scaled

SECRET = "one secret for both servers of these tests"


async def counting(room: rooms.Room):
    """Six turns; each broadcast carries the room's clock, a random draw and the turn."""
    start = room.now()
    colours = room.random.sample(["x", "o"], 2)
    sent = room.broadcast({"type": "start", "colours": colours, "at": round(start)})
    room.broadcast({"type": "sent", "to": sent})  # what broadcast returns is the same on a replay
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
        # Read outside the game while replaying, the clock is where the replay stands (its start).
        assert adopted.replaying and adopted.clock() == 0.0
        await eventually(lambda: went_live)
        entries = len(adopted.log)
        adopted.now(), adopted.clock()  # outside the game: read, not logged
        assert len(adopted.log) == entries
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
        assert any(f"room {adopted.id} " in r.getMessage() and "not deterministic" in r.getMessage() and "output #1" in r.getMessage() for r in caplog.records)
        assert list(lobby2.results) == []
        again = await Bot.connect(server2, token=token)
        messages, closed = await again.messages_until_closed()
        assert messages[0]["error"] == "unknown_room", (messages, closed)


# ---------------------------------------------------------------------- going live with connected players


async def survivor(room: rooms.Room):
    """Relays until "end"; a player who leaves for good is announced, and the game goes on."""
    left, sent = [], []
    while True:
        try:
            player, msg = await room.receive()
        except rooms.PlayerLeft as exc:
            left.append((exc.player.seat, exc.player.expired, exc.code, exc.reason))
            room.broadcast({"type": "gone", "seat": exc.player.seat})
            continue
        if msg == "end":
            return {"left": left, "sent": sent}
        # How many got it: on a replay, the players the log says are connected.
        sent.append(room.broadcast({"type": "said", "seat": player.seat, "msg": msg, "late": room.clock() >= 0}))


async def adopt(lobby: rooms.Lobby, backend: rooms.MemoryBackend, log: RoomLog, attach: dict, server: ws.Server) -> rooms.Room:
    went_live: list[bool] = []

    def on_live(room: rooms.Room, diverged: bool) -> None:
        went_live.append(diverged)
        backend.add_room(lobby, room)

    room = lobby.adopt_room(log, attach, on_live, server)
    await eventually(lambda: went_live)
    assert went_live == [False], room.result
    return room


@pytest.mark.parametrize("hook", ["sync", "async"])
async def test_a_connected_player_gets_resumed_with_the_hooks_state_and_plays_on(hook):
    app, lobby = app_with(counting, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("start")
        a.send({"m": 0})
        await b.recv_type("move")
        log = copy_of(lobby.rooms[0].log)
        token_b = b.matched["token"]

    def snapshot(room: rooms.Room, player: rooms.Player) -> dict:
        room.clock(), room.now()  # a hook's reads are not the game's: never logged
        return {"seat": player.seat, "replaying": room.replaying}

    async def snapshot_later(room: rooms.Room, player: rooms.Player) -> dict:
        await asyncio.sleep(0)
        return snapshot(room, player)

    second = rooms.MemoryBackend(2, log=True)
    app2 = ws.App()
    lobby2 = rooms.Lobby(2, counting, reconnect=10, secret=SECRET, backend=second, on_resume=snapshot if hook == "sync" else snapshot_later)
    app2.route("/game")(lobby2)
    edge = ServerSockets(app2)
    async with running(app2) as server2:
        a2, sock = await edge.connect(server2)
        adopted = await adopt(lobby2, second, log, {0: sock}, server2)
        resumed = await a2.recv_type("resumed")
        assert resumed["seat"] == 0 and resumed["room"] == adopted.id and resumed["state"] == {"seat": 0, "replaying": False}
        assert [p["name"] for p in resumed["players"]] == ["a", "b"]
        # b was connected to the old host and is not here: its seat is held, and logged so.
        assert adopted.players[1].sock is None and adopted.players[1].grace is not None
        assert adopted.log.entries[-1][:2] == [Kind.AWAY.value, 1]
        live_at = len(adopted.log)
        b2 = await Bot.connect(server2, token=token_b)
        await b2.recv_type("resumed")
        for i in range(1, 6):
            (a2 if i % 2 == 0 else b2).send({"m": i})
            assert (await a2.recv_type("move"))["i"] == i
        ended = await a2.recv_type("ended")
        assert ended["result"]["moves"] == [{"m": i} for i in range(6)]
        # After the hook, the game's own reads and outputs are logged again.
        kinds = [e[0] for e in adopted.log.entries[live_at:]]
        assert Kind.CLOCK.value in kinds and Kind.OUTPUT.value in kinds


class Located(rooms.MemoryBackend):
    """A backend that says where each connection is, as a cluster's does."""

    def locate(self, sock: object) -> tuple[str, str]:
        return ("edge-1", f"conn-{id(sock)}")


async def test_a_replay_applies_who_went_away_came_back_and_left_for_good():
    app = ws.App()
    lobby = rooms.Lobby(4, survivor, reconnect=0.3, secret=SECRET, backend=Located(4, log=True))
    app.route("/game")(lobby)
    async with running(app) as server:
        a, c, b, d = await seat(server, ["a", "c", "b", "d"])
        c.sock.abort()  # c does not come back: its seat expires
        assert (await a.recv_type("gone"))["seat"] == 1
        b.sock.abort()  # b comes back in time ...
        await a.recv_type("player_left")
        a.send("while b is away")
        await d.recv_type("said")
        b = await Bot.connect(server, token=b.matched["token"])
        await b.recv_type("resumed")
        d.sock.close(1000, "bye")  # d leaves on purpose
        await d.sock.wait_closed()
        assert (await a.recv_type("gone"))["seat"] == 3
        a.send("after")
        await b.recv_type("said")
        (room,) = lobby.rooms
        token_a = a.matched["token"]
        a.sock.abort()  # ... and a is away when the host dies
        await eventually(lambda: room.players[0].sock is None)
        kinds = [entry[0] for entry in room.log.entries]
        assert kinds.count(Kind.AWAY.value) == 3 and kinds.count(Kind.BACK.value) == 1 and kinds.count(Kind.GONE.value) == 2
        log = copy_of(room.log)
        where_b = room.players[2].where
        assert where_b[0] == "edge-1" and where_b[1].startswith("conn-")

    app2 = ws.App()
    lobby2 = rooms.Lobby(4, survivor, reconnect=10, secret=SECRET, backend=Located(4, log=True))
    app2.route("/game")(lobby2)
    edge = ServerSockets(app2)
    async with running(app2) as server2:
        stale = [await edge.connect(server2) for _ in range(3)]
        (a2, sock_a), (c2, sock_c), (b2, sock_b) = stale
        adopted = await adopt(lobby2, lobby2.backend, log, {0: sock_a, 1: sock_c, 2: sock_b}, server2)
        # The replay gave the game c's and d's departures again, and b's return was applied.
        players = adopted.players
        assert (players[1].gone, players[1].expired, players[3].gone, players[3].expired) == (True, True, True, False)
        assert players[2].where == where_b and players[2].sock is sock_b and not players[2].gone
        assert (await b2.recv_type("resumed"))["seat"] == 2
        # a was away and c gone when the log ends: the sockets offered for them are refused.
        for client in (a2, c2):
            messages, closed = await client.messages_until_closed()
            assert (closed.code, closed.reason) == (1000, "no longer seated") and messages == []
        assert players[0].sock is None and players[0].grace is not None and players[0].away_since is not None
        a3 = await Bot.connect(server2, token=token_a)
        await a3.recv_type("resumed")
        a3.send("end")
        ended = await b2.recv_type("ended")
        assert ended["result"] == {"left": [[1, True, 1006, "seat expired"], [3, False, 1000, "bye"]], "sent": [2, 2]}


@pytest.mark.parametrize("reconnect", [None, 0.3])
async def test_a_player_connected_to_the_old_host_who_does_not_come_back(reconnect):
    app, lobby = app_with(survivor, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send("hello")
        await b.recv_type("said")
        log = copy_of(lobby.rooms[0].log)
    second = rooms.MemoryBackend(2, log=True)
    app2 = ws.App()
    lobby2 = rooms.Lobby(2, survivor, reconnect=reconnect, secret=SECRET, backend=second)
    app2.route("/game")(lobby2)
    edge = ServerSockets(app2)
    async with running(app2) as server2:
        a2, sock = await edge.connect(server2)
        await adopt(lobby2, second, log, {0: sock}, server2)
        await a2.recv_type("resumed")
        # Without a grace time b leaves at once; with one, when it runs out.
        assert (await a2.recv_type("gone"))["seat"] == 1
        a2.send("end")
        ended = await a2.recv_type("ended")
        expected = [1, False, 1006, "connection lost while the room moved"] if reconnect is None else [1, True, 1006, "seat expired"]
        assert ended["result"] == {"left": [expected], "sent": [2]}


@pytest.mark.parametrize("fails", [False, True])
async def test_an_async_on_resume_hook_done_after_its_player_left_sends_nothing(caplog, fails):
    app, lobby = app_with(counting, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("start")
        log = copy_of(lobby.rooms[0].log)
    release = asyncio.Event()
    done = []

    async def slow(room: rooms.Room, player: rooms.Player) -> dict:
        await release.wait()
        done.append(player.seat)
        if fails:
            raise RuntimeError("hook bug")
        return {"late": True}

    second = rooms.MemoryBackend(2, log=True)
    app2 = ws.App()
    lobby2 = rooms.Lobby(2, counting, reconnect=10, secret=SECRET, backend=second, on_resume=slow)
    app2.route("/game")(lobby2)
    edge = ServerSockets(app2)
    async with running(app2) as server2:
        caplog.set_level(logging.ERROR, logger="rooms")
        loop_errors: list[dict] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        a2, sock = await edge.connect(server2)
        adopted = await adopt(lobby2, second, log, {0: sock}, server2)
        await a2.aclose()
        await eventually(lambda: adopted.players[0].sock is None)
        release.set()
        await eventually(lambda: done == [0])  # the hook returned, and its send ran in the same step
        await asyncio.sleep(0)  # one turn: the task's done callbacks
        logged = [r for r in caplog.records if "on_resume" in r.getMessage()]
        if fails:  # an error in the hook is logged, with the room
            assert [r.getMessage() for r in logged] == [f"error in on_resume hook for room {adopted.id}"] and logged[0].exc_info
        else:
            assert logged == []
        assert loop_errors == []
        adopted.end(None)


async def test_a_stopped_room_sends_nothing_more_and_its_game_is_cancelled():
    seen = []

    async def game(room: rooms.Room):
        try:
            return await counting(room)
        except asyncio.CancelledError:
            room.broadcast({"type": "late"})  # a game's clean-up: neither sent nor logged
            seen.append((room.moved, room.clock() > 0))
            raise

    app, lobby = app_with(game, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("start")
        b.sock.abort()
        await a.recv_type("player_left")
        (room,) = lobby.rooms
        assert room.players[1].grace is not None
        entries = len(room.log)
        room.stop()  # this process lost the room (its lease, a hand-over)
        assert room.moved and room.players[1].grace is None
        assert await asyncio.wait_for(room.wait_ended(), scaled(3)) is None
        await eventually(lambda: seen == [(True, True)])
        room.mark()
        room.end({"late": True})  # too late: another process carries the room on
        assert not room.ended and room.result is None and len(room.log) == entries, room.log.entries[entries:]
        messages, closed = await a.messages_until_closed()
        assert messages == [], (messages, closed)


async def test_a_durable_room_that_nobody_is_connected_to_waits_for_a_return_within_its_timeout():
    go = asyncio.Event()
    outcomes = []

    async def waiting(room: rooms.Room):
        room.broadcast({"type": "start"})
        await go.wait()  # nobody is connected when the game first reads
        for timeout in (0.2, 0.9):
            try:
                player, msg = await room.receive(timeout=timeout)
                outcomes.append(("message", player.seat, msg))
            except TimeoutError:
                outcomes.append(("timeout",))
        return outcomes

    app, lobby = app_with(waiting, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await a.recv_type("start")
        (room,) = lobby.rooms
        a.sock.abort()
        b.sock.abort()
        await eventually(lambda: all(p.sock is None for p in room.players))
        entries = len(room.log)
        room.mark()  # the lease loop's mark: the room clock, logged
        assert len(room.log) == entries + 1 and 0 <= room.log.entries[-1][1] <= room.clock()
        go.set()
        await eventually(lambda: outcomes == [("timeout",)])  # the first wait ran out
        a2 = await Bot.connect(server, token=a.matched["token"])  # back within the second
        await a2.recv_type("resumed")
        a2.send("here")
        await eventually(lambda: len(outcomes) == 2)
        assert outcomes == [("timeout",), ("message", 0, "here")]
        assert [e[0] for e in room.log.entries].count(Kind.TIMEOUT.value) == 1
        await a2.recv_type("ended")
        entries = len(room.log)
        room.mark()  # over: nothing more is logged
        assert len(room.log) == entries


async def test_stop_is_safe_before_the_game_reads_without_a_task_and_after_the_end():
    go = asyncio.Event()

    async def game(room: rooms.Room):
        await go.wait()
        return await counting(room)

    app, lobby = app_with(game, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        (room,) = lobby.rooms
        room.stop()  # the game has not read yet: no mux
        assert room.moved and await asyncio.wait_for(room.wait_ended(), scaled(3)) is None
        await close_all([a, b])
    bare = rooms.Room("r1", [rooms.Player(0, "a", None, None), rooms.Player(1, "b", None, None)], log=RoomLog())
    bare.stop()  # no game task
    assert bare.moved and bare.ended_future.done()
    over = rooms.Room("r2", [rooms.Player(0, "a", None, None)], log=RoomLog())
    over.end({"done": True})
    over.stop()  # over here already: it stays over, not moved
    assert over.ended and not over.moved and over.result == {"done": True}


async def test_a_resume_logs_where_the_player_came_back():
    app = ws.App()
    edge = ServerSockets(app)
    async with running(app) as server:
        (client_a, sock_a), (client_b, sock_b) = await edge.connect(server), await edge.connect(server)
        players = [rooms.Player(0, "a", None, sock_a), rooms.Player(1, "b", None, None)]
        where = {sock_b: ("edge-7", "conn-9")}
        room = rooms.Room("r1", players, log=RoomLog(), reconnect=5, locate=lambda sock: where[sock])
        await room.resume(players[1], sock_b)
        assert room.log.entries[-1] == [Kind.BACK.value, 1, "edge-7", "conn-9"]
        assert players[1].where == ("edge-7", "conn-9") and players[1].sock is sock_b
        resumed = await client_b.recv_type("resumed")
        assert (resumed["room"], resumed["seat"]) == ("r1", 1)
        assert (await client_a.recv_type("player_returned"))["player"]["name"] == "b"
        room.end(None)
        await close_all([client_a, client_b])


async def test_what_a_durable_game_sends_one_player_is_logged_as_an_output():
    logs = []

    async def game(room: rooms.Room):
        room.players[0].send({"hi": 0})
        room.players[1].send({"hi": 1})
        return None

    app = ws.App()
    lobby = rooms.Lobby(2, game, backend=rooms.MemoryBackend(2, log=True), on_event=lambda e: e.kind == "ended" and logs.append(e.room.log))
    app.route("/game")(lobby)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        assert (await a.recv())["hi"] == 0 and (await b.recv())["hi"] == 1
        await a.recv_type("ended")
    (log,) = logs
    assert [e[0] for e in log.entries].count(Kind.OUTPUT.value) == 2  # each checked on a replay


async def test_a_durable_room_that_nobody_is_connected_to_waits_without_a_timeout():
    go = asyncio.Event()
    got = []

    async def game(room: rooms.Room):
        await go.wait()
        got.append(await room.receive())
        return None

    app, lobby = app_with(game, rooms.MemoryBackend(2, log=True))
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        (room,) = lobby.rooms
        a.sock.abort()
        b.sock.abort()
        await eventually(lambda: all(p.sock is None for p in room.players))
        go.set()
        b2 = await Bot.connect(server, token=b.matched["token"])
        await b2.recv_type("resumed")
        b2.send("back")
        await eventually(lambda: got)
        assert got[0][0] is room.players[1] and got[0][1] == "back"


class RemoteLog(RoomLog):
    """A log whose entries become durable only when flushed (as a cluster's are)."""

    def written(self) -> None:
        pass


async def test_a_departure_is_durable_before_the_game_sees_it():
    app = ws.App()
    edge = ServerSockets(app)
    async with running(app) as server:
        (client_a, sock_a), (client_b, sock_b) = await edge.connect(server), await edge.connect(server)
        log = RemoteLog()
        room = rooms.Room("r1", [rooms.Player(0, "a", None, sock_a), rooms.Player(1, "b", None, sock_b)], log=log)
        await client_b.aclose()  # b leaves for good: its departure is recorded, not yet durable
        await eventually(lambda: room.players[1].gone)
        assert log.durable < len(log)
        with pytest.raises(rooms.PlayerLeft) as info:
            await room.receive()
        assert info.value.player is room.players[1] and log.durable == len(log)
        room.end({"over": True})
        closed = await client_a.closed()
        assert (closed.code, closed.reason) == (1000, "game over")  # end's default reason
