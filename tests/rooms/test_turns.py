"""Clocks and turn order (pure); ``room.turn`` itself is tested in test_room.py."""

from __future__ import annotations

import pytest

import rooms
from rooms import Clock, TurnOrder, TurnTimeout


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(rooms.turns.time, "monotonic", fake)
    return fake


def test_clock_runs_only_while_started(clock_time):
    c = Clock(10, 2)
    assert c.remaining == 10 and not c.running
    clock_time.now += 5
    assert c.remaining == 10
    c.start()
    c.start()  # idempotent
    clock_time.now += 3
    assert c.running and c.remaining == 7
    assert c.stop() == 9  # increment after a move
    clock_time.now += 50
    assert c.remaining == 9
    assert c.to_json() == {"remaining": 9, "running": False, "increment": 2}


def test_clock_flag_falls(clock_time):
    c = Clock(1, 5)
    c.start()
    clock_time.now += 2
    assert c.remaining == 0
    assert c.stop() == 0  # no increment once flagged
    assert c.flagged


def test_clock_stop_without_increment(clock_time):
    c = Clock(10, 2)
    c.start()
    clock_time.now += 1
    assert c.stop(increment=False) == 9
    assert c.stop() == 9  # not running: nothing changes


@pytest.mark.parametrize("args", [(0,), (-1,), (1, -1)])
def test_clock_arguments(args):
    with pytest.raises(ValueError):
        Clock(*args)


def test_turn_timeout_carries_player_and_flag():
    exc = TurnTimeout("alice", flagged=True)
    assert exc.player == "alice" and exc.flagged
    assert isinstance(exc, TimeoutError) and isinstance(exc, rooms.RoomsError)
    assert "flag" in str(exc)
    assert not TurnTimeout("bob").flagged


def test_turn_order_cycles():
    order = TurnOrder(["a", "b", "c"], start=4)
    assert order.current == "b"
    assert [order.next() for _ in range(4)] == ["c", "a", "b", "c"]
    with pytest.raises(ValueError):
        TurnOrder([])


@pytest.mark.parametrize(
    "current, removed, then",
    [
        ("b", "a", "b"),  # someone before: still b's turn
        ("b", "c", "b"),  # someone after
        ("b", "b", "c"),  # the player to move: the next one moves
        ("c", "c", "a"),  # the last one, to move: wraps around
        ("a", "c", "a"),
    ],
)
def test_turn_order_remove(current, removed, then):
    order = TurnOrder(["a", "b", "c"], start="abc".index(current))
    order.remove(removed)
    assert order.current == then
    assert removed not in order.players


def test_clock_defaults_to_no_increment_and_keeps_its_settings(clock_time):
    c = Clock(10)
    assert (c.initial, c.increment, c.flagged) == (10.0, 0.0, False)
    assert c.flagged is False
    c.start()
    clock_time.now += 1
    assert c.stop() == 9
    assert Clock(10, 0).increment == 0.0  # no increment is allowed...
    assert Clock(10, 0.5).stop() == 10  # ...and so is a fraction of a second


def test_clock_with_time_left_under_a_second_is_not_flagged(clock_time):
    c = Clock(1, 5)
    c.start()
    clock_time.now += 0.5
    assert c.stop() == 5.5
    assert not c.flagged


def test_clock_json_rounds_to_milliseconds(clock_time):
    c = Clock(10)
    c.start()
    clock_time.now += 0.87654
    assert c.to_json() == {"remaining": 9.123, "running": True, "increment": 0.0}


def test_argument_errors_say_why():
    with pytest.raises(ValueError, match=r"^a clock needs initial > 0 and increment >= 0$"):
        Clock(1, -1)
    with pytest.raises(ValueError, match=r"^TurnOrder needs players$"):
        TurnOrder([])


def test_turn_order_starts_with_the_first_player():
    assert TurnOrder(["a", "b"]).current == "a"


def test_removing_an_earlier_player_keeps_the_turn_and_the_cycle():
    order = TurnOrder(["a", "b", "c", "d"], start=2)
    order.remove("a")
    assert order.current == "c"
    assert [order.next() for _ in range(3)] == ["d", "b", "c"]


# ---------------------------------------------------------------------- take_turn, over a scripted room


class Seat:
    """A player as take_turn sees one: a name, whether gone, what it was sent."""

    def __init__(self, name: str, gone: bool = False) -> None:
        self.name, self.gone, self.last_sock, self.sent = name, gone, object(), []

    def send(self, obj):
        self.sent.append(obj)


class ScriptedRoom:
    """``room.clock()`` and ``room.receive(timeout=)`` from a script of
    ``(seconds later, who, message)``; a step later than the time-out asked for
    ends the wait at the time-out (TimeoutError), as a real room's does."""

    def __init__(self, script):
        self.now, self.script, self.timeouts = 50.0, list(script), []

    def clock(self) -> float:
        return self.now

    async def receive(self, timeout=None):
        self.timeouts.append(timeout)
        delay, who, message = self.script[0]
        if timeout is not None and delay > timeout:
            self.now += timeout
            self.script[0] = (delay - timeout, who, message)
            raise TimeoutError
        self.script.pop(0)
        self.now += delay
        return who, message


async def test_a_turn_for_a_player_who_has_left_raises_player_left_at_once():
    gone = Seat("x", gone=True)
    with pytest.raises(rooms.PlayerLeft) as info:
        await rooms.turns.take_turn(ScriptedRoom([]), gone)
    exc = info.value
    assert (exc.player, exc.code, exc.reason, exc.socket) == (gone, 1006, "player has left", gone.last_sock)


async def test_a_turns_timeout_counts_from_its_start_on_the_room_clock():
    x, o = Seat("x"), Seat("o")
    room = ScriptedRoom([(3.0, o, "early"), (4.0, x, "late")])
    with pytest.raises(TurnTimeout) as info:
        await rooms.turns.take_turn(room, x, timeout=5)
    # The first wait is the whole 5 s; after o's message 3 s in, what is left: 2 s.
    assert room.timeouts == [5, 2.0] and info.value.player is x and not info.value.flagged
    assert o.sent == [{"type": "error", "error": "not_your_turn", "detail": "it is x's turn"}]
    room = ScriptedRoom([(0.5, x, "e4")])
    assert await rooms.turns.take_turn(room, x) == "e4" and room.timeouts == [None]  # no time-out: no limit
    room = ScriptedRoom([(1.5, o, "a"), (2.0, x, "b")])
    assert await rooms.turns.take_turn(room, x, timeout=0.5 + 1.5 + 2.5) == "b" and room.timeouts == [4.5, 3.0]


async def test_a_turns_wait_is_never_negative():
    x, o = Seat("x"), Seat("o")
    room = ScriptedRoom([(0.5, o, "a"), (0.1, x, "b")])
    room.now = 0.2  # a clock that reads small
    with pytest.raises(TurnTimeout):
        await rooms.turns.take_turn(room, x, timeout=0.4)
    assert room.timeouts == [0.4]


async def test_a_turn_runs_the_players_clock_on_the_rooms_and_flags_only_at_zero():
    x = Seat("x")
    room = ScriptedRoom([(1.0, x, "e4")])
    clock = Clock(10, 2)
    assert await rooms.turns.take_turn(room, x, clock=clock) == "e4"
    assert clock.remaining == 10 - 1.0 + 2 and not clock.running  # the room's clock ran it
    room = ScriptedRoom([(30.0, x, "too late")])
    clock = Clock(0.5)
    with pytest.raises(TurnTimeout) as info:
        await rooms.turns.take_turn(room, x, clock=clock)
    assert info.value.flagged and clock.flagged and room.timeouts == [0.5]
    room = ScriptedRoom([(30.0, x, "too late")])
    clock = Clock(5)
    with pytest.raises(TurnTimeout) as info:  # the turn's own time-out came first: 4.5 s left
        await rooms.turns.take_turn(room, x, clock=clock, timeout=0.5)
    assert not info.value.flagged and not clock.flagged and clock.remaining == 4.5
    room = ScriptedRoom([(30.0, x, "too late")])
    clock = Clock(1.5)
    with pytest.raises(TurnTimeout) as info:  # 0.7 s left on the clock: not flagged
        await rooms.turns.take_turn(room, x, clock=clock, timeout=0.8)
    assert not info.value.flagged and not clock.flagged


def test_a_clock_given_its_own_time_source_keeps_it(clock_time):
    mine = FakeTime()
    clock = Clock(10, now=mine)
    clock.bind(lambda: 0.0)  # a room's clock: not taken
    clock.start()
    mine.now += 3
    assert clock.remaining == 7
    free = Clock(10)
    free.start()
    free.bind(lambda: 0.0)  # running already: not taken either
    clock_time.now += 2
    assert free.remaining == 8
    bound = Clock(10)
    room_time = FakeTime()
    bound.bind(room_time)  # neither: it runs on the room's clock
    bound.start()
    room_time.now += 4
    clock_time.now += 100
    assert bound.remaining == 6
