"""The Lobby over real sockets: status, keys (mode, private code, rating band),
auth, max_wait, fairness, leaving while waiting or while being seated, and
bounded randomized runs checked against the matchmaking rules."""

from __future__ import annotations

import asyncio
import random

import pytest

import rooms
import ws
from tests.rooms.helpers import lobby_app, seat
from tests.support import Bot, close_all, eventually, running, scaled, url


async def hold(room):
    """A game that lasts until the room is told to end (or everyone leaves)."""
    try:
        async for _player, message in room:
            if message == "end":
                return "ended by request"
    except ws.Closed:
        return "left"


async def names(room):
    return [p.name for p in room.players]


# ---------------------------------------------------------------------- gathering


async def test_status_messages_then_match_and_result():
    app, lobby = lobby_app(3, names)
    async with running(app) as server:
        a = await Bot.connect(server, name="ann")
        assert await a.recv() == {"type": "lobby", "have": 1, "need": 3, "position": 1}
        b = await Bot.connect(server, name="bob")
        assert await a.recv() == {"type": "lobby", "have": 2, "need": 3, "position": 1}
        assert await b.recv() == {"type": "lobby", "have": 2, "need": 3, "position": 2}
        c = await Bot.connect(server, name="cy")
        bots = [a, b, c]
        matched = [await bot.recv() for bot in bots]
        room_id = matched[0]["room"]
        for seat_no, msg in enumerate(matched):
            assert msg["type"] == "matched" and msg["room"] == room_id and msg["seat"] == seat_no
            assert msg["reconnect"] is None and isinstance(msg["token"], str)
            assert msg["players"] == [
                {"seat": 0, "name": "ann", "connected": True},
                {"seat": 1, "name": "bob", "connected": True},
                {"seat": 2, "name": "cy", "connected": True},
            ]
        assert len({m["token"] for m in matched}) == 3
        for bot in bots:
            assert await bot.recv() == {"type": "ended", "room": room_id, "result": ["ann", "bob", "cy"]}
            assert (await bot.closed()).code == 1000
        assert list(lobby.results) == [(room_id, ["ann", "bob", "cy"])]
        assert lobby.rooms == [] and lobby.waiting() == 0


async def test_default_names_and_long_names():
    app, _ = lobby_app(2, names)
    async with running(app) as server:
        a = await Bot.connect(server)
        await a.recv_type("lobby")
        b = await Bot.connect(server, name="x" * 100)
        msg = await b.recv_type("matched")
        assert msg["players"][0]["name"].startswith("player-")
        assert msg["players"][1]["name"] == "x" * 32
        await close_all([a, b])


async def test_first_come_first_matched():
    app, lobby = lobby_app(2, hold)
    async with running(app) as server:
        bots = await seat(server, ["p0", "p1", "p2", "p3", "p4", "p5"][:2])
        more = await seat(server, ["p2", "p3"])
        assert [m["name"] for m in bots[0].matched["players"]] == ["p0", "p1"]
        assert [m["name"] for m in more[0].matched["players"]] == ["p2", "p3"]
        for bot in [bots[0], more[0]]:
            bot.send("end")
        await close_all(bots + more)


async def test_two_players_joining_at_once():
    """Many connections at the same moment: every one is seated exactly once, in
    groups of n, and the seats are the order in which the lobby took them in."""
    seen = []
    app, lobby = lobby_app(2, hold, on_event=lambda e: e.kind == "created" and seen.append(e.room))
    async with running(app) as server:
        bots = await asyncio.gather(*(Bot.connect(server, name=f"p{i}") for i in range(10)))
        matched = await asyncio.gather(*(b.recv_type("matched") for b in bots))
        by_room: dict[str, list[str]] = {}
        for bot, msg in zip(bots, matched):
            assert msg["players"][msg["seat"]]["name"] == bot.name
            by_room.setdefault(msg["room"], []).append(bot.name)
        assert len(by_room) == 5 and all(len(v) == 2 for v in by_room.values())
        assert sorted(n for v in by_room.values() for n in v) == sorted(b.name for b in bots)
        assert len(seen) == 5 and lobby.waiting() == 0
        for msg, bot in zip(matched, bots):
            if msg["seat"] == 0:
                bot.send("end")
        await close_all(bots)


# ---------------------------------------------------------------------- keys


async def test_modes_are_separate_queues_and_a_bad_mode_is_refused():
    def mode(request):
        m = request.query.get("mode", "blitz")
        if m not in ("blitz", "rapid"):
            raise ws.HTTPError(400, "unknown mode")
        return m

    app, lobby = lobby_app(2, hold, mode=mode)
    async with running(app) as server:
        a = await Bot.connect(server, name="a", mode="blitz")
        await a.recv_type("lobby")
        b = await Bot.connect(server, name="b", mode="rapid")
        assert await b.recv() == {"type": "lobby", "have": 1, "need": 2, "position": 1}
        c = await Bot.connect(server, name="c", mode="blitz")
        assert [p["name"] for p in (await c.recv_type("matched"))["players"]] == ["a", "c"]
        await a.recv_type("matched")
        await b.nothing()
        assert lobby.waiting() == 1
        with pytest.raises(ws.InvalidHandshake) as info:
            await ws.connect(url(server, "/game?mode=bullet"))
        assert info.value.status == 400
        a.send("end")
        await close_all([a, b, c])


async def test_private_rooms():
    app, lobby = lobby_app(2, names, private=True)
    async with running(app) as server:
        host = await Bot.connect(server, name="host", code="new")
        status = await host.recv()
        code = status.pop("code")
        assert status == {"type": "lobby", "have": 1, "need": 2, "position": 1}
        assert len(code) == 6 and code.isalnum() and code.isupper()
        # A public player does not land in the private room.
        public = await Bot.connect(server, name="public")
        assert await public.recv() == {"type": "lobby", "have": 1, "need": 2, "position": 1}
        # An unknown code: an error message, then close 4004.
        stranger = await Bot.connect(server, code="ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY")
        error = await stranger.recv()
        assert error["type"] == "error" and error["error"] == "unknown_room"
        assert (await stranger.closed()).code == 4004
        # The right code (any case) joins.
        friend = await Bot.connect(server, name="friend", code=code.lower())
        msg = await friend.recv_type("matched")
        assert [p["name"] for p in msg["players"]] == ["host", "friend"]
        await host.recv_type("matched")
        assert (await friend.recv())["result"] == ["host", "friend"]
        # Once the room started, the code is unknown.
        late = await Bot.connect(server, code=code)
        assert (await late.recv())["error"] == "unknown_room"
        assert (await late.closed()).code == 4004
        assert lobby.waiting() == 1  # public is still waiting
        await close_all([host, public, friend])


async def test_private_code_in_a_lobby_without_private_rooms_is_ignored():
    app, _ = lobby_app(2, names)
    async with running(app) as server:
        a = await Bot.connect(server, name="a", code="new")
        assert "code" not in await a.recv()
        b = await Bot.connect(server, name="b", code="ABCDEF")
        await b.recv_type("matched")
        await close_all([a, b])


async def test_rating_band_widens_while_waiting():
    def rating(request):
        return float(request.query["rating"])

    bands = rooms.Bands(band=10, widen_per_second=400, max_band=300)
    app, lobby = lobby_app(2, names, rating=rating, bands=bands)
    async with running(app) as server:
        a = await Bot.connect(server, name="a", rating=1000)
        await a.recv_type("lobby")
        far = await Bot.connect(server, name="far", rating=2000)  # beyond max_band: never
        await far.recv_type("lobby")
        b = await Bot.connect(server, name="b", rating=1100)  # 100 apart: not at first
        await b.recv_type("lobby")
        assert lobby.waiting() == 3
        loop = asyncio.get_running_loop()
        start = loop.time()
        msg = await b.recv_type("matched", timeout=scaled(3))
        assert loop.time() - start >= 0.1  # the bands had to widen (via the lobby's tick)
        assert [p["name"] for p in msg["players"]] == ["a", "b"]
        assert await far.recv() == {"type": "lobby", "have": 3, "need": 2, "position": 2}  # when b came
        assert await far.recv() == {"type": "lobby", "have": 1, "need": 2, "position": 1}  # a and b left
        await far.nothing(0.7)
        assert lobby.waiting() == 1
        # A close rating matches at once.
        near = await Bot.connect(server, name="near", rating=2005)
        assert [p["name"] for p in (await near.recv_type("matched"))["players"]] == ["far", "near"]
        await close_all([a, b, far, near])


async def test_a_bad_rating_is_refused_before_the_upgrade():
    def rating(request):
        try:
            return float(request.query["rating"])
        except (KeyError, ValueError):
            raise ws.HTTPError(400, "rating required") from None

    app, lobby = lobby_app(2, names, rating=rating)
    async with running(app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await ws.connect(url(server, "/game?rating=high"))
        assert info.value.status == 400
        assert lobby.waiting() == 0


# ---------------------------------------------------------------------- auth


@pytest.mark.parametrize("is_async", [False, True])
async def test_auth_identity_and_refusals(is_async):
    identities = []

    def check(request):
        user = request.query.get("user")
        if user is None:
            raise ws.HTTPError(401, "login first")
        if user == "banned":
            raise ws.HTTPError(403, "banned")
        if user == "nobody":
            return None
        return {"name": user.title(), "id": user, "elo": 1500}

    async def acheck(request):
        await asyncio.sleep(0)  # an auth that suspends, as one asking a database would
        return check(request)

    async def game(room):
        identities.extend(p.identity for p in room.players)
        return None

    app, lobby = lobby_app(2, game, auth=acheck if is_async else check)
    async with running(app) as server:
        for query, status in [("", 401), ("?user=banned", 403), ("?user=nobody", 403)]:
            with pytest.raises(ws.InvalidHandshake) as info:
                await ws.connect(url(server, "/game" + query))
            assert info.value.status == status
        assert lobby.waiting() == 0
        a = await Bot.connect(server, user="ann")
        await a.recv_type("lobby")
        b = await Bot.connect(server, user="bo", name="ignored")
        msg = await b.recv_type("matched")
        assert [p["name"] for p in msg["players"]] == ["Ann", "Bo"]
        assert identities == [{"name": "Ann", "id": "ann", "elo": 1500}, {"name": "Bo", "id": "bo", "elo": 1500}]
        await close_all([a, b])


async def test_auth_identity_without_a_name_gets_one():
    app, _ = lobby_app(2, names, auth=lambda request: {"id": 7})
    async with running(app) as server:
        a = await Bot.connect(server)
        await a.recv_type("lobby")
        b = await Bot.connect(server)
        msg = await b.recv_type("matched")
        assert all(p["name"].startswith("player-") for p in msg["players"])
        await close_all([a, b])


# ---------------------------------------------------------------------- waiting ends


async def test_max_wait():
    app, lobby = lobby_app(2, names, max_wait=0.3)
    async with running(app) as server:
        a = await Bot.connect(server, name="a")
        start = asyncio.get_running_loop().time()
        messages, closed = await a.messages_until_closed()
        assert messages[0]["type"] == "lobby"
        assert messages[-1]["type"] == "error" and messages[-1]["error"] == "lobby_timeout"
        assert closed.code == 4000
        assert 0.25 <= asyncio.get_running_loop().time() - start < 2
        assert lobby.waiting() == 0
        # The next player waits alone: a is never seated.
        b = await Bot.connect(server, name="b")
        assert (await b.recv())["have"] == 1
        await close_all([b])


async def test_leaving_while_waiting_removes_at_once():
    app, lobby = lobby_app(3, names)
    async with running(app) as server:
        a = await Bot.connect(server, name="a")
        await a.recv_type("lobby")
        b = await Bot.connect(server, name="b")
        await b.recv_type("lobby")
        await a.recv_type("lobby")
        a.sock.abort()  # no closing handshake
        assert await b.recv() == {"type": "lobby", "have": 1, "need": 3, "position": 1}
        assert lobby.waiting() == 1
        c = await Bot.connect(server, name="c")
        assert await c.recv() == {"type": "lobby", "have": 2, "need": 3, "position": 2}
        await b.recv_type("lobby")
        d = await Bot.connect(server, name="d")
        msg = await d.recv_type("matched")
        assert [p["name"] for p in msg["players"]] == ["b", "c", "d"]
        await close_all([b, c, d])


async def test_leaving_while_being_seated():
    """The group's first player is closing just as the last one arrives: the
    group falls apart, the others go back to their places, nobody gets a room
    with a dead player, and the closing one is never seated."""
    created = []

    def mode(request):
        if request.query.get("kill"):
            # Simulate the race: the first waiter's close has started, its TCP
            # connection (and so its removal) has not been seen yet.
            first = lobby.backend.waiting((request.path, None, None))[0]
            first.payload.sock.close(1000, "")
        return None

    app, lobby = lobby_app(3, hold, mode=mode, on_event=lambda e: e.kind == "created" and created.append(e.room))
    async with running(app) as server:
        a = await Bot.connect(server, name="a")
        await a.recv_type("lobby")
        b = await Bot.connect(server, name="b")
        await b.recv_type("lobby")
        await a.recv_type("lobby")
        c = await Bot.connect(server, name="c", kill=1)
        # a is closed and never matched.
        messages, closed = await a.messages_until_closed()
        assert all(m["type"] == "lobby" for m in messages)
        # b and c wait again, b first (it came first).
        assert (await c.recv_type("lobby"))["position"] == 2
        await eventually(lambda: lobby.waiting() == 2)
        assert [t.payload.identity["name"] for t in lobby.backend.waiting(("/game", None, None))] == ["b", "c"]
        assert created == []
        d = await Bot.connect(server, name="d")
        msg = await d.recv_type("matched")
        assert [p["name"] for p in msg["players"]] == ["b", "c", "d"]
        assert len(created) == 1
        b.send("end")
        await close_all([b, c, d])


# ---------------------------------------------------------------------- randomized, over real sockets


@pytest.mark.parametrize("seed", range(4))
async def test_randomized_joins_and_leaves(seed):
    """Random joins (two modes) and leaves, one at a time; after each step the
    lobby's state is what the rules say: groups of 2 of one mode, in arrival
    order, nobody who left is seated, nobody waits while a partner waits."""
    rnd = random.Random(seed)
    groups = []
    app, lobby = lobby_app(
        2, hold, mode=lambda r: r.query["mode"], on_event=lambda e: e.kind == "created" and groups.append(e.room)
    )
    async with running(app) as server:
        waiting: dict[str, list[Bot]] = {"x": [], "y": []}
        expected: list[list[str]] = []
        seated: list[Bot] = []
        for step in range(30):
            if rnd.random() < 0.65 or not any(waiting.values()):
                m = rnd.choice("xy")
                bot = await Bot.connect(server, name=f"s{step}", mode=m)
                if waiting[m]:
                    partner = waiting[m].pop(0)
                    expected.append([partner.name, bot.name])
                    for x in (partner, bot):
                        await x.recv_type("matched")
                        seated.append(x)
                else:
                    await bot.recv_type("lobby")
                    waiting[m].append(bot)
            else:
                m = rnd.choice([k for k in waiting if waiting[k]])
                bot = waiting[m].pop(rnd.randrange(len(waiting[m])))
                await bot.aclose()
            await eventually(lambda: lobby.waiting() == sum(map(len, waiting.values())))
            assert [[p.name for p in room.players] for room in groups] == expected
            for m, bots in waiting.items():
                got = [t.payload.identity["name"] for t in lobby.backend.waiting(("/game", m, None))]
                assert got == [b.name for b in bots]
        for bot in seated:
            bot.send("end")
        await close_all(seated + [b for bots in waiting.values() for b in bots])
