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
