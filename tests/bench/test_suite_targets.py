"""The targets' check that ``python -m bench`` writes at the end of suite.md."""

from __future__ import annotations

from bench.suite import targets_table

SERVERS = ["ours", "websockets", "aiohttp", "picows"]


def row_cells(markdown: str, row: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == row:
            return cells[1:]
    raise AssertionError(f"no row {row!r} in\n{markdown}")


def test_marks_met_half_met_and_missed_targets():
    table = {
        # rates: ours 1.6x websockets (met), 0.9x aiohttp (missed), 0.7x picows (met)
        "small-100": {"ours": 160.0, "websockets": 100.0, "aiohttp": 178.0, "picows": 228.0},
        # idle memory: 2.5x less than websockets
        "idle-5000": {"ours": 4000.0, "websockets": 10000.0, "aiohttp": 9000.0, "picows": 20000.0},
    }
    cpu = {
        # CPU per operation: ours 1.4x websockets (missed, so ~), 1.1x aiohttp (met, so ~)
        "small-100 (server us/op)": {"ours": 10.0, "websockets": 14.0, "aiohttp": 11.0, "picows": 6.0},
    }
    markdown = targets_table(table, cpu, SERVERS)
    assert row_cells(markdown, "small-100") == ["1.60 / 1.40 ~", "0.90 / 1.10 ~", "0.70 / 0.60 ~"]
    assert "ours 2.50x less than websockets" in markdown
    assert "small-1 " not in markdown  # rows that did not run are left out


def test_both_ratios_over_the_target_is_met_and_neither_is_missed():
    table = {"broadcast-1000": {"ours": 200.0, "websockets": 100.0, "aiohttp": 90.0, "picows": 400.0}}
    cpu = {"broadcast-1000 (server us/op)": {"ours": 5.0, "websockets": 10.0, "aiohttp": 6.0, "picows": 1.0}}
    assert row_cells(targets_table(table, cpu, SERVERS), "broadcast-1000") == [
        "2.00 / 2.00 ✓",
        "2.22 / 1.20 ✓",
        "0.50 / 0.20 ✗",
    ]
