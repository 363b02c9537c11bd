"""bench.colyseus's arithmetic and bench.looptrace's join of the two processes' stamps.

Neither Node nor a server runs here (the Colyseus packages are installed by
``make bench`` only); what is checked is how runs become the table's figures."""

from __future__ import annotations

import pytest

from bench import colyseus, looptrace


def step(players: int, p99: float, errors: int = 0) -> dict:
    return {"players": players, "p99_ms": p99, "errors": errors}


def test_capacity_is_the_last_step_within_the_bound_before_the_first_miss():
    assert colyseus.capacity_of([step(500, 3.0), step(1000, 12.0), step(2000, 49.9), step(3000, 80.0)]) == 2000
    # A step with errors ends the search even within the bound; a later good step is not counted.
    assert colyseus.capacity_of([step(500, 3.0), step(1000, 5.0, errors=2), step(2000, 9.0)]) == 500
    assert colyseus.capacity_of([step(500, 51.0)]) is None
    assert colyseus.capacity_of([]) is None


def test_ratios_are_above_one_when_ours_is_better():
    assert colyseus.ratio(3000.0, 1000.0, higher_is_better=True) == 3.0  # players per second
    assert colyseus.ratio(2.0, 8.0, higher_is_better=False) == 4.0  # milliseconds, bytes
    assert colyseus.ratio(None, 8.0, higher_is_better=False) is None
    assert colyseus.ratio(2.0, 0.0, higher_is_better=True) is None


def test_table_has_a_ratio_column_per_server_of_ours():
    table = {"matchmaking": {"ours": 900.0, "ours-uvloop": 1200.0, "colyseus": 300.0},
             "moves-100 p99": {"ours": 2.0, "ours-uvloop": None, "colyseus": 4.0}}
    units = {"matchmaking": "players matched/s", "moves-100 p99": "move p99 ms"}
    better = {"matchmaking": True, "moves-100 p99": False}
    lines = colyseus.table_markdown(table, units, better, ["ours", "ours-uvloop", "colyseus"]).splitlines()
    assert lines[0] == "| row | unit | ours | ours-uvloop | colyseus | ours/colyseus | ours-uvloop/colyseus |"
    assert lines[2] == "| matchmaking | players matched/s | 900 | 1,200 | 300 | **3.00** | **4.00** |"
    assert lines[3] == f"| moves-100 p99 | move p99 ms | 2.00 | {colyseus.NONE} | 4.00 | **2.00** | {colyseus.NONE} |"


def test_every_row_names_a_load_of_the_generator_and_each_server_a_program():
    assert {load for load, _, _ in colyseus.ROWS.values()} == {"matchmaking", "moves"}
    assert set(colyseus.SERVERS) == {"ours", "ours-uvloop", "colyseus"}
    assert colyseus.SERVERS["colyseus"][-1].endswith("server.mjs")


def test_out_of_bounds_arguments_are_refused():
    with pytest.raises(SystemExit):
        colyseus.main(["--duration", "0"])
    with pytest.raises(SystemExit):
        colyseus.main(["--rows", "nope"])


def test_looptrace_splits_a_move_into_the_client_and_server_parts():
    # One move: sent at 10.000, read at 10.002, the game woke at 10.003, broadcast at
    # 10.0035, back at the client at 10.004; the server's CPU ran all the while.
    server = {
        "moves": [("room", 1, 10.002, 5, 10.003, 6, 10.0035, 6)],
        "samples": [(10.0, 1.0), (10.01, 1.01)],
        "matches": [(1.0, 1.001, 3, 1.0015, 4)],
        "busy": [0.001, 0.002], "events": [1, 2, 3], "soon": [4, 5], "soon_by": {"Task.task_wakeup": 9},
        "cpu_seconds": 2.0, "games": 4,
    }
    client = {"value": 1.0, "trace": [("room", 1, 10.0, 10.004), ("other", 1, 10.0, 10.1)],
              "cycles": [(9.0, 9.1, 9.2, 9.3, 9.9, 10.0, 4242)]}
    out = looptrace.summarise(server, client)
    moves = out["moves"]
    assert moves["total"]["n"] == 1  # the move the server never saw is left out
    for part, ms in (("to_read", 2.0), ("read_to_wake", 1.0), ("game", 0.5), ("to_client", 0.5), ("total", 4.0)):
        assert moves[part]["p50"] == pytest.approx(ms)
    assert out["moves_in_server_cpu_ms"]["to_read"]["p50"] == pytest.approx(2.0)  # CPU ran at full speed
    assert moves["iterations_read_to_wake"]["p50"] == 1
    assert out["matches"]["open_to_first_line_ms"]["p50"] == pytest.approx(0.5)
    assert out["bot_round_ms"]["round"]["p50"] == pytest.approx(1000.0)
    assert out["server_cpu_ms_per_game"] == pytest.approx(500.0)
    assert "trace" not in out["client"] and "cycles" not in out["client"]
    assert "move p50/p99 ms" in looptrace.report("asyncio", out)
