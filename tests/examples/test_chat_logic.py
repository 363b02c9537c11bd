"""The chat rules through ChatRoom's public API: nicknames, history, length and flood limits."""

from __future__ import annotations

import pytest

from examples.games.chat.logic import ChatError, ChatRoom, FloodLimit, clean_nick, clean_room_name


class FakeTime:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


def test_join_welcome_and_announcement() -> None:
    room = ChatRoom("lounge", clock=lambda: 1.5)
    welcome, joined = room.join("a", "alice")
    assert welcome == {
        "type": "welcome",
        "room": "lounge",
        "you": "alice",
        "people": ["alice"],
        "history": [],
        "limits": {"max_text": 500, "rate": 2.0, "burst": 5},
    }
    assert joined == {"type": "joined", "nick": "alice", "people": ["alice"]}
    room.say("a", "hello")
    welcome, joined = room.join("b", "bob")
    assert welcome["people"] == ["alice", "bob"]
    assert welcome["history"] == [{"type": "chat", "nick": "alice", "text": "hello", "ts": 1.5}]


def test_nicknames_are_cleaned_and_unique() -> None:
    room = ChatRoom("x")
    assert room.join(1, "alice")[0]["you"] == "alice"
    assert room.join(2, "ALICE")[0]["you"] == "ALICE-2"
    assert room.join(3, "alice")[0]["you"] == "alice-3"
    assert room.join(4, "")[0]["you"] == "guest"
    assert clean_nick("  a\x00b\n  c ") == "ab c"
    assert len(clean_nick("x" * 100)) == 24


def test_leave_announces_and_forgets() -> None:
    room = ChatRoom("x")
    room.join(1, "alice")
    room.join(2, "bob")
    assert room.leave(1) == {"type": "left", "nick": "alice", "people": ["bob"]}
    assert room.leave(1) is None
    assert len(room) == 1


def test_length_limit_and_empty_messages() -> None:
    room = ChatRoom("x", max_text=10)
    room.join(1, "a")
    assert room.say(1, "  0123456789  ")["text"] == "0123456789"
    with pytest.raises(ChatError) as info:
        room.say(1, "x" * 11)
    assert info.value.error == "too_long" and "10 characters" in str(info.value)
    assert info.value.to_json()["limit"] == 10
    with pytest.raises(ChatError, match="empty"):
        room.say(1, "   ")
    with pytest.raises(ChatError) as info:
        room.handle(1, {"type": "shout", "text": "hi"})
    assert info.value.error == "bad_message"
    with pytest.raises(ChatError):
        room.say(1, 42)


def test_flood_limit_refuses_with_a_notice_then_recovers() -> None:
    now = FakeTime()
    room = ChatRoom("x", rate=2, burst=3, now=now)
    room.join(1, "a")
    room.join(2, "b")
    for i in range(3):
        room.say(1, f"m{i}")
    with pytest.raises(ChatError) as info:
        room.say(1, "too fast")
    err = info.value.to_json()
    assert err["error"] == "flood" and "slow down" in err["detail"] and err["retry_after"] == 0.5
    room.say(2, "others are not limited by a's flood")
    now.t += 0.5
    room.say(1, "ok again")
    with pytest.raises(ChatError):
        room.say(1, "and too fast again")
    assert [m["text"] for m in room.history][-2:] == ["others are not limited by a's flood", "ok again"]


def test_flood_limit_bucket() -> None:
    now = FakeTime()
    limit = FloodLimit(rate=1, burst=2, now=now)
    assert limit.allow() and limit.allow() and not limit.allow()
    assert limit.retry_after() == pytest.approx(1.0)
    now.t += 10
    assert limit.allow() and limit.allow() and not limit.allow()  # never more than the burst
    with pytest.raises(ValueError):
        FloodLimit(rate=0)


def test_history_is_bounded() -> None:
    room = ChatRoom("x", history=3, burst=100, rate=100)
    room.join(1, "a")
    for i in range(10):
        room.say(1, str(i))
    assert [m["text"] for m in room.rejoin(1)["history"]] == ["7", "8", "9"]


def test_room_full() -> None:
    room = ChatRoom("x", max_members=2)
    room.join(1, "a")
    room.join(2, "b")
    with pytest.raises(ChatError) as info:
        room.join(3, "c")
    assert info.value.error == "room_full"


@pytest.mark.parametrize("name", ["lounge", "a", "Room_2-b", "x" * 32])
def test_room_names_ok(name: str) -> None:
    assert clean_room_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 33, "é", "a/b", "../x"])
def test_room_names_refused(name: str) -> None:
    with pytest.raises(ChatError):
        clean_room_name(name)
