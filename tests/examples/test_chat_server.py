"""Chat through the example server: open named rooms (ws.endpoint + registry) and groups of n (Lobby)."""

from __future__ import annotations

import asyncio
import json

import pytest

import ws
from examples.server import make_site
from tests.support import Bot, eventually, http_get, running, scaled


def site(**chat_options):
    chat_options.setdefault("reconnect", 2.0)
    chat_options.setdefault("sizes", (2, 3))
    return make_site(chat_options=chat_options)


async def listing(server: ws.Server) -> dict:
    status, body = await http_get(server, "/chat/rooms")
    assert status == 200
    return json.loads(body)


async def test_open_room_join_talk_leave() -> None:
    s = site()
    async with running(s.app) as server:
        alice = await Bot.connect(server, "/chat/room/lounge", name="alice")
        welcome = await alice.recv_type("welcome")
        assert welcome["room"] == "lounge" and welcome["you"] == "alice" and welcome["people"] == ["alice"]
        alice.send({"type": "say", "text": "anyone here?"})
        assert (await alice.recv_type("chat"))["text"] == "anyone here?"
        bob = await Bot.connect(server, "/chat/room/lounge", name="alice")  # same nickname
        welcome = await bob.recv_type("welcome")
        assert welcome["you"] == "alice-2" and welcome["people"] == ["alice", "alice-2"]
        assert [m["text"] for m in welcome["history"]] == ["anyone here?"]
        joined = await alice.recv_type("joined")
        assert joined["nick"] == "alice-2" and joined["people"] == ["alice", "alice-2"]
        assert (await listing(server))["open"] == [{"name": "lounge", "people": 2}]
        # another room is separate
        carol = await Bot.connect(server, "/chat/room/games", name="carol")
        await carol.recv_type("welcome")
        bob.send({"type": "say", "text": "hi alice"})
        for bot in (alice, bob):
            msg = await bot.recv_type("chat")
            assert msg["nick"] == "alice-2" and msg["text"] == "hi alice" and msg["ts"] > 0
        await bob.aclose()
        left = await alice.recv_type("left")
        assert left == {"type": "left", "nick": "alice-2", "people": ["alice"]}
        await asyncio.gather(alice.aclose(), carol.aclose())
        await eventually(lambda: not s.chat_rooms.rooms, scaled(5))  # the rooms go with their last member
        assert (await listing(server))["open"] == []
        assert carol.seen[-1]["type"] == "welcome"  # carol never saw the lounge's messages


async def test_length_and_flood_limits_send_a_clear_notice() -> None:
    async with running(site(max_text=20, rate=5, burst=3).app) as server:
        alice = await Bot.connect(server, "/chat/room/x", name="alice")
        bob = await Bot.connect(server, "/chat/room/x", name="bob")
        await alice.recv_type("welcome")
        await bob.recv_type("welcome")
        alice.send({"type": "say", "text": "x" * 21})
        error = await alice.recv_type("error")
        assert error["error"] == "too_long" and "20 characters" in error["detail"]
        for i in range(5):
            alice.send({"type": "say", "text": f"spam {i}"})
        got = [await alice.recv_type("chat", "error") for _ in range(5)]
        assert [m["type"] for m in got] == ["chat"] * 3 + ["error"] * 2
        assert got[3]["error"] == "flood" and "slow down" in got[3]["detail"] and got[3]["retry_after"] > 0
        await asyncio.sleep(0.25)  # the bucket refills at 5 a second
        alice.send({"type": "say", "text": "calm now"})
        assert (await alice.recv_type("chat", "error"))["text"] == "calm now"
        bob_saw = [await bob.recv_type("chat") for _ in range(4)]
        assert [m["text"] for m in bob_saw] == ["spam 0", "spam 1", "spam 2", "calm now"]
        alice.sock.text("not json")
        assert (await alice.recv_type("error"))["error"] == "bad_message"
        await asyncio.gather(alice.aclose(), bob.aclose())


async def test_bad_room_name_is_refused_before_the_upgrade() -> None:
    async with running(site().app) as server:
        with pytest.raises(ws.InvalidHandshake) as info:
            await Bot.connect(server, "/chat/room/-bad-", name="x")
        assert "400" in str(info.value)


async def test_group_of_three_from_the_lobby() -> None:
    async with running(site(reconnect=0.3).app) as server:
        bots = []
        for name in ["ann", "ben", "cat"]:
            bots.append(await Bot.connect(server, "/chat/size/3", name=name))
            if len(bots) < 3:
                status = await bots[-1].recv_type("lobby")
                assert status["have"] == len(bots) and status["need"] == 3
        assert (await listing(server))["waiting"] == {"2": 0, "3": 0}
        for bot in bots:
            await bot.recv_type("matched")
            welcome = await bot.recv_type("welcome")
            assert welcome["people"] == ["ann", "ben", "cat"] and welcome["you"] == bot.name
        ann, ben, cat = bots
        ben.send({"type": "say", "text": "hello both"})
        for bot in bots:
            assert (await bot.recv_type("chat"))["text"] == "hello both"
        cat.sock.abort()
        for bot in (ann, ben):
            assert (await bot.recv_type("player_left"))["reconnect"] == 0.3
            left = await bot.recv_type("left")  # the grace time ran out: cat has left
            assert left["nick"] == "cat" and left["people"] == ["ann", "ben"]
        ann.send({"type": "say", "text": "x" * 501})
        assert (await ann.recv_type("error"))["error"] == "too_long"
        await ann.aclose()
        await ben.recv_type("left")
        ben.sock.close()
        _, closed = await ben.messages_until_closed()
        assert closed.code == 1000


async def test_group_member_reconnects_with_the_seat_token() -> None:
    async with running(site(reconnect=1.0).app) as server:
        a = await Bot.connect(server, "/chat/size/2", name="a")
        await a.recv_type("lobby")
        b = await Bot.connect(server, "/chat/size/2", name="b")
        matched = await b.recv_type("matched")
        await a.recv_type("welcome")
        a.send({"type": "say", "text": "before"})
        await b.recv_type("chat")
        b.sock.abort()
        await a.recv_type("player_left")
        back = await Bot.connect(server, "/chat/size/2", token=matched["token"])
        resumed = await back.recv_type("resumed")
        assert resumed["state"]["you"] == "b" and [m["text"] for m in resumed["state"]["history"]] == ["before"]
        await a.recv_type("player_returned")
        back.send({"type": "say", "text": "after"})
        assert (await a.recv_type("chat"))["text"] == "after"
        await asyncio.gather(a.aclose(), back.aclose())
