"""bench.inprocess runs against the current ws internals and echoes every message.

Timings are not asserted (they belong to the benchmark); what is checked is that the
tool still drives a real WebSocket and the floor alike, so an internal change that
breaks it shows up here rather than at the next benchmark run."""

from __future__ import annotations

import asyncio

import pytest

from bench import inprocess


@pytest.mark.parametrize(("size", "binary"), [(32, False), (70_000, True)])
def test_measure_echoes_every_message_in_each_variant(size, binary):
    # measure() raises if ours and the floor did not write one echo per message.
    results = asyncio.run(inprocess.measure(size, binary, messages=200, repeat=2))
    assert set(results) == {"loop", "asyncio-floor", "ours"}
    assert all(value > 0 for value in results.values())


def test_main_prints_a_row_per_case(capsys):
    assert inprocess.main(["--size", "10", "--size", "200", "--messages", "50", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("message") and [line.split()[0] for line in lines[1:]] == ["10", "200"]


def test_out_of_bounds_arguments_are_refused():
    with pytest.raises(SystemExit):
        inprocess.main(["--messages", "0"])
