"""Room over real sockets: sending, receiving, bad messages, spectators, lifecycle
events, results, disconnects, reconnect with seat tokens, turns and clocks,
a handler that raises."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

import rooms
import ws
from tests.rooms.helpers import ServerSockets, lobby_app, seat
from tests.support import Bot, close_all, eventually, open_raw, running, scaled


async def echo(room):
    """Echo each message to everyone with its seat; ``"end"`` ends with a result."""
    async for player, message in room:
        if message == "end":
            return {"winner": player.name}
        room.broadcast({"type": "echo", "seat": player.seat, "message": message})


# ---------------------------------------------------------------------- sending and receiving


async def test_send_broadcast_text_and_data():
    async def game(room):
        a, b = room.players
        assert (a.seat, b.seat) == (0, 1) and room.player(1) is b and room.others(a) == [b]
        assert a.send({"to": "a"}) and b.send_data({"to": "b", "raw": b"\x00"})
        room.broadcast({"all": 1})
        room.broadcast({"all": 2}, binary=True)
        room.broadcast({"not": "a"}, exclude=[a])
        await room.receive()
        return "done"

    app, _ = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        assert await a.recv_raw() == '{"to":"a"}'
        assert await a.recv_raw() == '{"all":1}'
        assert await a.recv() == {"all": 2}
        assert await b.recv() == {"to": "b", "raw": b"\x00"}
        assert isinstance(await b.recv_raw(), str)
        assert isinstance(await b.recv_raw(), bytes)
        assert await b.recv() == {"not": "a"}
        a.send("go")
        assert (await a.recv())["result"] == "done"
        assert (await b.recv())["type"] == "ended"
        await close_all([a, b])


async def test_broadcast_serialises_once(monkeypatch):
    calls = []
    encode = rooms.codec.encode_text
    monkeypatch.setattr(rooms.codec, "encode_text", lambda obj: calls.append(obj) or encode(obj))

    async def game(room):
        await room.receive()
        calls.clear()
        assert room.broadcast({"big": "x" * 1000}) == 4  # 3 players and a spectator
        assert len(calls) == 1
        return None

    app, lobby = lobby_app(3, game)
    async with running(app) as server:
        bots = await seat(server, ["a", "b", "c"])
        spectator = await Bot.connect(server, watch=bots[0].matched["room"])
        assert (await spectator.recv())["type"] == "spectating"
        bots[0].send("go")
        for bot in bots + [spectator]:
            assert (await bot.recv())["big"] == "x" * 1000
        await close_all(bots + [spectator])


async def test_messages_from_all_players_json_and_msgpack():
    app, lobby = lobby_app(2, echo)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send({"n": 1})
        b.send_data({"n": 2})
        for expected in ({"type": "echo", "seat": 0, "message": {"n": 1}}, {"type": "echo", "seat": 1, "message": {"n": 2}}):
            assert await a.recv() == expected
            assert await b.recv() == expected
        b.send("end")
        for bot in (a, b):
            assert await bot.recv() == {"type": "ended", "room": a.matched["room"], "result": {"winner": "b"}}
            assert (await bot.closed()).code == 1000
        assert list(lobby.results) == [(a.matched["room"], {"winner": "b"})]


@pytest.mark.parametrize("bad", ["not json{", '"\\ud800"', b"\xc1", b"\x92\x01"])
async def test_a_bad_message_gets_an_error_and_the_room_goes_on(bad):
    app, lobby = lobby_app(2, echo)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send_raw(bad)
        error = await a.recv()
        assert error["type"] == "error" and error["error"] == "bad_message"
        assert ("JSON" if isinstance(bad, str) else "msgpack") in error["detail"]
        await b.nothing()
        a.send([1])
        assert (await b.recv())["message"] == [1]
        b.send("end")
        assert (await a.recv())["type"] == "echo"
        assert (await a.recv())["result"] == {"winner": "b"}
        await close_all([a, b])


# ---------------------------------------------------------------------- spectators


async def test_spectators_watch_but_cannot_act():
    async def game(room):
        room.state = {"board": "empty"}
        return await echo(room)

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        room_id = a.matched["room"]
        a.send("sync")  # the game set its state before reading this
        await a.recv_type("echo")
        s = await Bot.connect(server, watch=room_id)
        assert await s.recv() == {
            "type": "spectating",
            "room": room_id,
            "players": [{"seat": 0, "name": "a", "connected": True}, {"seat": 1, "name": "b", "connected": True}],
            "state": {"board": "empty"},
        }
        s.send("end")
        assert await s.recv() == {"type": "error", "error": "spectator", "detail": "spectators cannot act"}
        a.send("hi")
        assert (await s.recv())["message"] == "hi"
        # A spectator leaving does not disturb the game.
        s2 = await Bot.connect(server, watch=room_id)
        await s2.recv_type("spectating")
        (room,) = lobby.rooms
        assert len(room.spectators) == 2
        await s2.aclose()
        await eventually(lambda: len(room.spectators) == 1)
        b.send("end")
        assert (await s.recv())["result"] == {"winner": "b"}
        closed = await s.closed()
        assert (closed.code, closed.reason) == (1000, "game over")
        # Unknown and ended rooms cannot be watched.
        for room in ("nope", room_id):
            late = await Bot.connect(server, watch=room)
            assert (await late.recv())["error"] == "unknown_room"
            assert (await late.closed()).code == 4004
        await close_all([a, b])


async def test_on_spectate_hook_and_spectators_off():
    app, _ = lobby_app(2, echo, on_spectate=lambda room, spectator: {"seen_by": spectator.name, "room": room.id})
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        s = await Bot.connect(server, watch=a.matched["room"])
        assert (await s.recv())["state"] == {"seen_by": "spectator", "room": a.matched["room"]}
        a.send("end")
        await close_all([a, b, s])
    app, _ = lobby_app(2, echo, spectators=False)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        s = await Bot.connect(server, watch=a.matched["room"])
        assert (await s.recv())["error"] == "unknown_room"
        assert (await s.closed()).code == 4004
        a.send("end")
        await close_all([a, b])


# ---------------------------------------------------------------------- lifecycle


def recorder():
    events = []

    def on_event(event: rooms.RoomEvent) -> None:
        events.append((event.kind, event.player.name if event.player else None, event.detail))

    return events, on_event


async def test_lifecycle_events_with_reconnect():
    events, on_event = recorder()
    app, lobby = lobby_app(2, echo, reconnect=2, on_event=on_event)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        assert events == [("created", None, None), ("joined", "a", None), ("joined", "b", None)]
        b.sock.abort()
        await a.recv_type("player_left")
        assert events[-1] == ("left", "b", 1006)  # the close code the connection ended with
        b2 = await Bot.connect(server, token=b.matched["token"])
        await b2.recv_type("resumed")
        await a.recv_type("player_returned")
        assert events[-1] == ("returned", "b", None)
        a.send("end")
        await b2.recv_type("ended")
        await a.recv_type("ended")
        assert events[-1] == ("ended", None, {"winner": "a"})
        assert [e[0] for e in events] == ["created", "joined", "joined", "left", "returned", "ended"]
        await close_all([a, b2])


async def test_a_failing_event_hook_does_not_break_the_room(caplog):
    def on_event(event):
        raise RuntimeError("hook bug")

    caplog.set_level(logging.ERROR, logger="rooms")
    app, lobby = lobby_app(2, echo, on_event=on_event)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send("end")
        assert (await b.recv())["result"] == {"winner": "a"}
        logged = [r for r in caplog.records if r.getMessage() == f"error in on_event hook for room {a.matched['room']}"]
        assert logged and logged[0].exc_info is not None
        await close_all([a, b])


# ---------------------------------------------------------------------- disconnects


async def test_without_reconnect_the_game_sees_closed_naming_the_player():
    events, on_event = recorder()
    seen = []

    async def game(room):
        try:
            await echo(room)
        except ws.Closed as exc:
            seen.append((exc.player.name, exc.player.gone, exc.code))
            room.broadcast({"type": "bye", "left": exc.player.seat})
            return {"forfeit": exc.player.name}

    app, lobby = lobby_app(3, game, on_event=on_event)
    async with running(app) as server:
        a, b, c = await seat(server, ["a", "b", "c"])
        await b.aclose()
        for bot in (a, c):
            assert await bot.recv() == {
                "type": "player_left",
                "player": {"seat": 1, "name": "b", "connected": False},
                "reconnect": None,
            }
            assert await bot.recv() == {"type": "bye", "left": 1}
            assert (await bot.recv())["result"] == {"forfeit": "b"}
        assert seen == [("b", True, 1000)]
        assert ("left", "b", 1000) in events
        assert list(lobby.results)[-1][1] == {"forfeit": "b"}
        # The token of a seat that is gone is useless (here: the room is over).
        late = await Bot.connect(server, token=b.matched["token"])
        assert (await late.recv())["error"] == "unknown_room"
        assert (await late.closed()).code == 4004
        await close_all([a, c])


async def test_an_uncaught_leave_ends_the_room_with_a_player_left_result():
    app, lobby = lobby_app(2, echo)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b.sock.abort()
        await a.recv_type("player_left")
        ended = await a.recv()
        assert ended["result"] == {"reason": "player_left", "player": {"seat": 1, "name": "b", "connected": False}}
        assert (await a.closed()).code == 1000
        await close_all([a])


async def test_reconnect_with_token_takes_the_seat_back():
    async def game(room):
        a, b = room.players
        room.state = {"moves": []}
        order = rooms.TurnOrder(room.players)
        while len(room.state["moves"]) < 3:
            move = await room.turn(order.current, timeout=5)
            room.state["moves"].append(move)
            room.broadcast({"type": "move", "move": move})
            order.next()
        return room.state

    app, lobby = lobby_app(2, game, reconnect=2, on_resume=lambda room, player: {"you": player.seat, **room.state})
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send(1)
        await b.recv_type("move")
        b.sock.abort()
        left = await a.recv_type("player_left")
        assert left == {"type": "player_left", "player": {"seat": 1, "name": "b", "connected": False}, "reconnect": 2}
        b2 = await Bot.connect(server, token=b.matched["token"])
        assert await b2.recv() == {
            "type": "resumed",
            "room": a.matched["room"],
            "seat": 1,
            "players": [{"seat": 0, "name": "a", "connected": True}, {"seat": 1, "name": "b", "connected": True}],
            "state": {"you": 1, "moves": [1]},
        }
        assert await a.recv() == {"type": "player_returned", "player": {"seat": 1, "name": "b", "connected": True}}
        b2.send(2)
        assert (await a.recv())["move"] == 2
        assert (await b2.recv())["move"] == 2
        a.send(3)
        assert (await b2.recv_type("ended"))["result"] == {"moves": [1, 2, 3]}
        await close_all([a, b2])


async def test_reconnect_while_still_connected_replaces_the_old_connection():
    app, lobby = lobby_app(2, echo, reconnect=2)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b2 = await Bot.connect(server, token=b.matched["token"])
        await b2.recv_type("resumed")
        messages, closed = await b.messages_until_closed()
        assert messages == [{"type": "error", "error": "replaced", "detail": "this seat was taken by a new connection"}]
        assert (closed.code, closed.reason) == (4005, "replaced by a new connection")
        b2.send("via b2")
        assert (await a.recv_type("echo"))["message"] == "via b2"
        a.send("end")
        await close_all([a, b, b2])


async def test_after_the_grace_time_the_seat_is_gone():
    seen = []

    async def game(room):
        try:
            await echo(room)
        except ws.Closed as exc:
            seen.append((exc.player.seat, exc.reason))
        # The game goes on without them.
        return await echo(room)

    events, record = recorder()
    held = []  # how long the seat was held, measured by the server's clock

    def on_event(event: rooms.RoomEvent) -> None:
        record(event)
        if event.kind == "left" and event.detail == "expired":
            held.append(time.monotonic() - event.player.away_since)

    app, lobby = lobby_app(2, game, reconnect=0.3, on_event=on_event)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b.sock.abort()
        assert (await a.recv())["reconnect"] == 0.3
        gone = await a.recv(timeout=scaled(2))
        assert gone == {"type": "player_left", "player": {"seat": 1, "name": "b", "connected": False}, "reconnect": None}
        # The seat expires after the grace time, not before, and not much later:
        # only the event loop's delay in running the timer is allowed.
        assert len(held) == 1 and 0.3 <= held[0] < 0.3 + scaled(0.1), held
        assert seen == [(1, "seat expired")]
        assert events[-1] == ("left", "b", "expired")
        late = await Bot.connect(server, token=b.matched["token"])
        assert (await late.recv())["error"] == "seat_expired"
        assert (await late.closed()).code == 4006
        a.send("end")
        assert (await a.recv())["result"] == {"winner": "a"}
        await close_all([a])


@pytest.mark.parametrize("delay", [0.2, 0.28, 0.3, 0.32])
async def test_reconnect_at_the_last_moment(delay):
    """Around the end of the grace time exactly one thing happens: either the seat
    is taken back (and the game never sees the player leave) or it expired
    (the game sees ws.Closed, the token is refused with 4006)."""
    seen = []

    async def game(room):
        try:
            return await echo(room)
        except ws.Closed as exc:
            seen.append(exc.player.seat)
            return await echo(room)

    app, lobby = lobby_app(2, game, reconnect=0.3)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b.sock.abort()
        await a.recv_type("player_left")  # the grace time started about now
        await asyncio.sleep(delay)  # what is tested: a reconnect this far into the 0.3 s grace
        b2 = await Bot.connect(server, token=b.matched["token"])
        first = await b2.recv()
        if first["type"] == "resumed":
            b2.send("back")
            assert (await a.recv_type("echo"))["message"] == "back"
            assert seen == []
            assert delay < 0.3 + 0.1
        else:
            assert first["error"] == "seat_expired"
            assert (await b2.closed()).code == 4006
            assert seen == [1]
            assert delay > 0.3 - 0.1
        if delay == 0.2:
            assert first["type"] == "resumed"
        a.send("end")
        assert (await a.recv_type("ended"))["result"] == {"winner": "a"}
        await close_all([a, b2])


async def test_tokens_for_another_seat_or_room_are_refused():
    secret = b"shared-secret-16bytes"
    app, lobby = lobby_app(2, echo, reconnect=2, secret=secret)
    other = rooms.Lobby(2, echo, reconnect=2, secret=secret)
    stranger = rooms.Lobby(2, echo, reconnect=2)
    app.route("/other")(other)
    app.route("/stranger")(stranger)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        c, d = await seat(server, ["c", "d"])
        token = b.matched["token"]
        room_id, seat_no, nonce, mac = token.split(".")

        async def refused(path, text, error, code):
            bot = await Bot.connect(server, path, token=text)
            assert (await bot.recv())["error"] == error
            assert (await bot.closed()).code == code

        await refused("/game", f"{room_id}.0.{nonce}.{mac}", "invalid_token", 4001)  # other seat, same MAC
        await refused("/game", f"{c.matched['room']}.1.{nonce}.{mac}", "invalid_token", 4001)  # other room
        await refused("/game", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "invalid_token", 4001)
        await refused("/game", "garbage", "invalid_token", 4001)
        await refused("/game", f"{room_id}.{seat_no}.{nonce}.", "invalid_token", 4001)  # no MAC
        await refused("/game", f"{room_id}.{seat_no}.{nonce}.{mac[:8]}", "invalid_token", 4001)  # a truncated MAC
        # Right signature, but the nonce of seat 1 is not the one of seat 1 in room c/d.
        forged, _ = lobby.tokens.issue(c.matched["room"], 1)
        await refused("/game", forged, "invalid_token", 4001)
        await refused("/game", lobby.tokens.issue(room_id, 7)[0], "invalid_token", 4001)  # no such seat
        await refused("/other", token, "unknown_room", 4004)  # another lobby, same secret
        await refused("/stranger", token, "invalid_token", 4001)  # another lobby, another secret
        # The seats were untouched.
        b.send("still here")
        assert (await a.recv_type("echo"))["message"] == "still here"
        for bot in (a, c):
            bot.send("end")
        await close_all([a, b, c, d])


async def test_no_reconnect_means_tokens_do_not_take_seats():
    app, lobby = lobby_app(2, echo)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        bot = await Bot.connect(server, token=b.matched["token"])
        assert (await bot.recv())["error"] == "seat_unavailable"
        assert (await bot.closed()).code == 4002
        b.send("x")
        assert (await a.recv_type("echo"))["message"] == "x"
        a.send("end")
        await close_all([a, b])


# ---------------------------------------------------------------------- failures and shutdown


async def test_a_handler_that_raises_ends_the_room_with_1011():
    async def game(room):
        await room.receive()
        raise RuntimeError("secret internals")

    events, on_event = recorder()
    app, lobby = lobby_app(2, game, on_event=on_event)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        spectator = await Bot.connect(server, watch=a.matched["room"])
        await spectator.recv_type("spectating")
        a.send("boom")
        for bot in (a, b, spectator):
            messages, closed = await bot.messages_until_closed()
            assert messages == [{"type": "ended", "room": a.matched["room"], "result": None, "error": "internal error"}]
            assert closed.code == 1011
            assert "secret" not in closed.reason
        assert events[-1] == ("ended", None, None)
        assert list(lobby.results) == [] and lobby.rooms == []
    # running() checked that no connection or task is left.


async def test_server_shutdown_ends_rooms_with_1001():
    app, lobby = lobby_app(2, echo, reconnect=5)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        server.close()
        for bot in (a, b):
            _, closed = await bot.messages_until_closed()
            assert closed.code == 1001
    assert lobby.rooms == []


# ---------------------------------------------------------------------- turns


async def test_turn_accepts_only_that_players_move():
    async def game(room):
        a, b = room.players
        move = await room.turn(b, timeout=5)
        return {"b played": move}

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        spectator = await Bot.connect(server, watch=a.matched["room"])
        await spectator.recv_type("spectating")
        a.send("mine!")
        assert await a.recv() == {"type": "error", "error": "not_your_turn", "detail": "it is b's turn"}
        spectator.send("me too")
        assert (await spectator.recv())["error"] == "spectator"
        b.send("e4")
        assert (await a.recv())["result"] == {"b played": "e4"}
        await close_all([a, b, spectator])


async def test_turn_timeout_and_clock_flag():
    outcomes = []

    async def game(room):
        a, b = room.players
        try:
            await room.turn(a, timeout=0.1)
        except rooms.TurnTimeout as exc:
            outcomes.append(("timeout", exc.player is a, exc.flagged))
        clock = rooms.Clock(0.3, 0.1)
        move = await room.turn(a, clock=clock)  # in time: the increment is added
        outcomes.append(("moved", move, clock.running, 0.3 < clock.remaining <= 0.4))
        try:
            await room.turn(b, clock=rooms.Clock(0.15), timeout=5)
        except rooms.TurnTimeout as exc:
            outcomes.append(("flag", exc.player is b, exc.flagged))
        long_clock = rooms.Clock(10)
        try:
            await room.turn(b, clock=long_clock, timeout=0.1)
        except rooms.TurnTimeout as exc:
            outcomes.append(("timeout with clock", exc.flagged, long_clock.running, long_clock.flagged))
        return "over"

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        await eventually(lambda: len(outcomes) == 1)  # the first turn timed out: a's clock runs
        a.send("quick")
        assert (await a.recv(timeout=scaled(3)))["result"] == "over"
        assert outcomes == [
            ("timeout", True, False),
            ("moved", "quick", False, True),
            ("flag", True, True),
            ("timeout with clock", False, False, False),
        ]
        await close_all([a, b])


async def test_a_turn_that_times_out_adds_no_increment():
    # The increment rewards a move made in time; a turn that ran out (its
    # timeout, not the clock) stops the clock with the time used taken off.
    after = []

    async def game(room):
        a, _ = room.players
        clock = rooms.Clock(10, 5)
        with pytest.raises(rooms.TurnTimeout) as info:
            await room.turn(a, clock=clock, timeout=0.1)
        after.append((info.value.flagged, clock.running, clock.flagged, clock.remaining))
        return "over"

    app, _ = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        assert (await a.recv_type("ended"))["result"] == "over"
        [(flagged, running_, clock_flagged, remaining)] = after
        assert (flagged, running_, clock_flagged) == (False, False, False)
        assert 0 < remaining < 10, remaining  # 10 s less the time used; the increment would make it 14.9
        await close_all([a, b])


# ---------------------------------------------------------------------- an operator's removal, and the room's own accessors


async def test_remove_takes_a_seat_for_good_with_the_reason():
    seen = []

    async def game(room):
        try:
            await echo(room)
        except rooms.PlayerLeft as exc:
            seen.append((exc.player.name, exc.player.gone, exc.code, exc.reason))
            return {"removed": exc.player.name}

    app, lobby = lobby_app(2, game, reconnect=5)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        (room,) = lobby.rooms
        reason = "removed for cheating " + "x" * 120  # the close reason is cut to 100 characters
        assert room.remove(room.players[1], reason) is True
        messages, closed = await b.messages_until_closed()
        assert messages == [{"type": "error", "error": "removed", "detail": reason}]
        assert (closed.code, closed.reason) == (1000, reason[:100])
        left = await a.recv_type("player_left")
        assert left["player"]["name"] == "b" and left["reconnect"] is None  # not held
        ended = await a.recv_type("ended")
        assert ended["result"] == {"removed": "b"}
        assert seen == [("b", True, 1000, reason)]
        assert room.remove(room.players[1]) is False  # gone already
        assert room.remove(room.players[0]) is False  # the room is over
        await close_all([a])


async def test_remove_of_a_player_who_is_away_frees_the_held_seat():
    async def game(room):
        while True:
            try:
                player, message = await room.receive()
            except rooms.PlayerLeft as exc:
                room.broadcast({"type": "gone", "seat": exc.player.seat})
                continue
            return {"by": player.seat}

    app, lobby = lobby_app(2, game, reconnect=30)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b.sock.abort()
        await a.recv_type("player_left")
        (room,) = lobby.rooms
        away = room.players[1]
        assert away.grace is not None
        assert room.remove(away) is True
        assert away.grace is None and away.gone
        again = await Bot.connect(server, token=b.matched["token"])
        messages, closed = await again.messages_until_closed()
        assert messages == [{"type": "error", "error": "seat_unavailable", "detail": "this seat is no longer held"}]
        assert closed.code == 4002
        assert (await a.recv_type("gone"))["seat"] == 1
        a.send("done")
        assert (await a.recv_type("ended"))["result"] == {"by": 0}
        await close_all([a])


async def test_the_rooms_accessors():
    got = asyncio.get_running_loop().create_future()

    async def game(room):
        got.set_result(room)
        async for player, message in room:
            return {"by": player.seat}

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        room = await asyncio.wait_for(got, scaled(3))
        assert room.log is None and not room.replaying  # no input log without a durable backend
        assert room.player(1) is room.players[1] and room.others(room.players[0]) == [room.players[1]]
        assert repr(room) == f"<Room {room.id} ['a', 'b']>"
        draws = [room.random.random() for _ in range(3)]
        reference = random.Random(room.seed)
        assert draws == [reference.random() for _ in range(3)]
        assert room.random is room.random
        before = room.clock()
        assert 0 <= before <= room.clock() < 60  # seconds since the room opened and abs(room.now() - time.time()) < 1
        room.mark()  # no log: nothing to mark, nothing raised
        future = room.ended_future
        assert not future.done()
        b.send("go")
        assert await asyncio.wait_for(asyncio.shield(future), scaled(3)) == {"by": 1}
        assert room.ended and room.result == {"by": 1} and await room.wait_ended() == {"by": 1}
        await close_all([a, b])


async def test_a_seat_replaced_before_the_game_reads_anything():
    go = asyncio.Event()

    async def game(room):
        await go.wait()  # no mux yet: the game has not read
        return await echo(room)

    app, lobby = lobby_app(2, game, reconnect=2)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b2 = await Bot.connect(server, token=b.matched["token"])
        await b2.recv_type("resumed")
        assert (await b.closed()).code == 4005
        go.set()
        b2.send("end")
        assert (await a.recv_type("ended"))["result"] == {"winner": "b"}
        await close_all([a, b2])


@pytest.mark.parametrize("hook", [None, "sync", "async"])
async def test_resumed_carries_the_hooks_state_or_room_state(hook):
    async def later(room, player):
        await asyncio.sleep(0)
        return {"for": player.name, "room": room.id}

    hooks = {None: None, "sync": lambda room, player: {"for": player.name, "room": room.id}, "async": later}

    async def game(room):
        room.state = {"board": "start"}
        return await echo(room)

    app, lobby = lobby_app(2, game, reconnect=5, on_resume=hooks[hook])
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send("hello")
        await b.recv_type("echo")  # the game has set its state
        b.sock.abort()
        await a.recv_type("player_left")
        (room,) = lobby.rooms
        assert room.players[1].away_since is not None
        b2 = await Bot.connect(server, token=b.matched["token"])
        resumed = await b2.recv_type("resumed")
        expected = {"board": "start"} if hook is None else {"for": "b", "room": room.id}
        assert resumed["state"] == expected and resumed["seat"] == 1
        assert room.players[1].away_since is None
        a.send("end")
        await close_all([a, b2])


async def test_resume_of_an_ended_or_moved_room_is_refused():
    got = asyncio.get_running_loop().create_future()

    async def game(room):
        got.set_result(room)
        return await echo(room)

    app, lobby = lobby_app(2, game, reconnect=5)
    edge = ServerSockets(app)

    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        room = await asyncio.wait_for(got, scaled(3))
        a.send("end")
        await a.recv_type("ended")
        client, sock = await edge.connect(server)
        with pytest.raises(ws.Closed) as info:
            await room.resume(room.players[0], sock)
        assert (info.value.code, info.value.reason) == (1000, "game over")
        room.ended = False  # as if the room were still running here, but moved
        room.moved = True
        with pytest.raises(rooms.exceptions.RoomMoved) as moved:
            await room.resume(room.players[0], sock)
        assert moved.value.args == (room.id,)
        with pytest.raises(rooms.exceptions.RoomMoved) as moved:
            await room.receive()
        assert moved.value.args == (room.id,)
        await close_all([a, b, client])


async def test_broadcast_to_players_only_and_what_it_returns():
    async def game(room):
        async for player, message in room:
            counts = [room.broadcast({"type": "all"}), room.broadcast({"type": "players"}, spectators=False)]
            room.broadcast({"type": "counts", "counts": counts})
            return None

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        s = await Bot.connect(server, watch=a.matched["room"])
        await s.recv_type("spectating")
        a.send("go")
        assert (await a.recv_type("counts"))["counts"] == [3, 2]
        assert [m["type"] for m in [await s.recv(), await s.recv()]] == ["all", "counts"]
        await close_all([a, b, s])


@pytest.mark.parametrize("durable", [False, True])
async def test_when_everyone_left_before_the_game_read_it_reads_closed(durable):
    go = asyncio.Event()
    seen = []

    async def game(room):
        await go.wait()
        for _ in range(2):
            try:
                await room.receive()
            except rooms.PlayerLeft as exc:
                seen.append(exc.player.name)
        try:
            await room.receive()
        except ws.Closed as exc:
            seen.append((exc.code, exc.reason))
        return None

    app, lobby = lobby_app(2, game, reconnect=10, backend=rooms.MemoryBackend(2, log=durable))  # 1000 leaves even so
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        (room,) = lobby.rooms
        await a.aclose()
        await b.aclose()
        await eventually(lambda: all(p.gone for p in room.players))
        go.set()
        await eventually(lambda: len(seen) == 3)
        assert seen == ["a", "b", (1006, "no players left")]


async def test_turn_passes_its_validator_on():
    async def game(room):
        move = await room.turn(room.players[0], validate=lambda m: None if m in ("a1", "b2") else "not a square")
        return {"move": move}

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        a.send("z9")
        error = await a.recv_type("error")
        assert (error["error"], error["detail"]) == ("illegal_move", "not a square")
        a.send("b2")
        assert (await b.recv_type("ended"))["result"] == {"move": "b2"}
        await close_all([a, b])


async def test_remove_before_the_game_reads_with_the_default_reason():
    go = asyncio.Event()
    seen = []

    async def game(room):
        await go.wait()  # no mux yet
        try:
            await room.receive()
        except rooms.PlayerLeft as exc:
            seen.append((exc.player.name, exc.reason))
        return None

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        (room,) = lobby.rooms
        assert room.remove(room.players[1]) is True
        messages, closed = await b.messages_until_closed()
        assert messages == [{"type": "error", "error": "removed", "detail": "removed by an operator"}]
        assert (closed.code, closed.reason) == (1000, "removed by an operator")
        go.set()
        await eventually(lambda: seen == [("b", "removed by an operator")])
        await close_all([a])


async def test_the_room_knows_its_lobby_key_mode_and_code_and_starts_its_clock_at_zero():
    got = asyncio.get_running_loop().create_future()

    async def game(room):
        got.set_result(room)
        return await echo(room)

    app, lobby = lobby_app(2, game, private=True, mode=lambda request: request.query.get("mode", "classic"))
    async with running(app) as server:
        a = await Bot.connect(server, name="a", code="new", mode="blitz")
        code = (await a.recv_type("lobby"))["code"]
        b = await Bot.connect(server, name="b", code=code, mode="blitz")
        room = await asyncio.wait_for(got, scaled(3))
        assert (room.mode, room.code) == ("blitz", code)
        assert room.key is not None and (room.key.mode, room.key.code) == ("blitz", code)
        assert abs(room.created_at - time.time()) < 60
        a.send("end")
        await close_all([a, b])
    fresh = rooms.Room("r", [])
    assert 0 <= fresh.clock() < 0.5 and fresh.state is None and fresh.key is None and fresh.mode is None and fresh.code is None
    # Seeds fit a signed 64-bit integer (msgpack's int64, SQL's bigint).
    assert all(0 <= rooms.Room(f"r{i}", []).seed < 2**63 for i in range(200))


async def test_a_player_who_leaves_without_a_reason_left_as_player_left():
    seen = []

    async def game(room):
        try:
            await echo(room)
        except rooms.PlayerLeft as exc:
            seen.append((exc.player.name, exc.code, exc.reason))
            return None

    app, lobby = lobby_app(2, game)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b.sock.close(1000)  # no reason given
        await b.sock.wait_closed()
        await eventually(lambda: seen)
        assert seen == [("b", 1000, "player left")]
        await close_all([a])


async def test_resumed_state_is_none_when_the_game_set_none():
    app, lobby = lobby_app(2, echo, reconnect=5)
    async with running(app) as server:
        a, b = await seat(server, ["a", "b"])
        b.sock.abort()
        await a.recv_type("player_left")
        b2 = await Bot.connect(server, token=b.matched["token"])
        assert (await b2.recv_type("resumed"))["state"] is None
        a.send("end")
        await close_all([a, b2])


async def test_a_room_drops_a_player_who_does_not_read_past_its_buffer_limit():
    async def flood(room):
        async for player, message in room:
            for _ in range(2000):  # 16 MB: more than the kernel's socket buffers hold
                room.broadcast({"type": "blob", "data": "x" * 8192})
            return None

    app, lobby = lobby_app(2, flood, max_buffer=64 * 1024)
    async with running(app) as server:
        a = await Bot.connect(server, name="a")
        await a.recv_type("lobby")
        _, writer = await open_raw(server, "/game?name=b")  # joins, then never reads
        await eventually(lambda: lobby.rooms)
        (room,) = lobby.rooms
        sock_b = room.players[1].sock
        a.send("go")
        await eventually(lambda: sock_b.close_code == 1013)  # dropped, as ws.broadcast drops a slow reader
        writer.transport.abort()
        a.sock.abort()  # a has megabytes unread: no closing handshake
