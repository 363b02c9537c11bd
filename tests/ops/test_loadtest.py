"""``python -m rooms.loadtest`` run small and bounded against the example
server's app on 127.0.0.1: tic-tac-toe and chess bots play their games to the
end, the report (JSON and text) counts them, the chart is a PNG, the
progress bar shows; and the server's /metrics agrees with what the bots counted."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys

import pytest

from examples.server import make_site
from rooms.loadtest import percentile
from tests.support import eventually, http_get, running, scaled

from .test_metrics import scrape_values

pytestmark = pytest.mark.timeout(scaled(120))
ROOT = pathlib.Path(__file__).resolve().parents[2]


async def loadtest(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in a subprocess (the server keeps serving in this process's loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rooms.loadtest", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), scaled(90))
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_tictactoe_bots_through_the_cli(tmp_path) -> None:
    site = make_site(metrics=True)
    async with running(site.app) as server:
        chart = tmp_path / "run.png"
        code, out, err = await loadtest(
            f"ws://127.0.0.1:{server.port}/tictactoe", "--bot", "examples.bots:tictactoe",
            "--players", "6", "--rate", "30", "--games", "2", "--duration", str(scaled(30)),
            "--json", "--quiet", "--chart", str(chart),
        )
        assert code == 0, err
        report = json.loads(out)
        assert report["players_started"] == 6
        assert report["players_matched"] == 12 and report["games_ended"] == 12
        assert report["errors"] == {} and report["closes"] == {"1000": 12}
        moves = report["move_latency_ms"]
        assert moves["count"] >= 12 * 2 and 0 <= moves["p50"] <= moves["p90"] <= moves["p99"] <= moves["max"]
        assert report["match_wait_ms"]["count"] == 12
        assert chart.read_bytes().startswith(b"\x89PNG")
        # What the server counted agrees with what the bots did.
        await eventually(lambda: not server.websockets, scaled(5))
        status, body = await http_get(server, "/metrics")
        values = scrape_values(body.decode())
        assert values[("ws_messages_received_total", ())] == report["messages_sent"]
        assert values[("ws_messages_sent_total", ())] == report["messages_received"]
        assert values[("rooms_rooms_finished_total", (("lobby", "tictactoe"), ("outcome", "completed")))] == 6
        assert values[("rooms_match_wait_seconds_count", (("lobby", "tictactoe"),))] == 12


async def test_chess_bots_play_to_the_end_with_a_progress_bar_and_a_text_report() -> None:
    site = make_site()
    async with running(site.app) as server:
        code, out, err = await loadtest(
            f"ws://127.0.0.1:{server.port}/chess/ws", "--bot", "examples.bots:chess",
            "--players", "2", "--rate", "10", "--games", "1", "--duration", str(scaled(60)),
            env={"FORCE_COLOR": "0", "TTY_COMPATIBLE": "1", "COLUMNS": "100"},
        )
        assert code == 0, err
        assert "players matched  2" in out and "games ended      2" in out
        assert "errors           none" in out and "move latency" in out
        assert "games ended" in err  # the live table, on standard error
        assert site.chess.stats.finished == {"completed": 1}


async def test_a_run_bounded_by_its_duration_and_a_refused_lobby() -> None:
    site = make_site()
    async with running(site.app) as server:
        # One player alone never gets matched: the duration ends the run (close 1000 by us).
        code, out, err = await loadtest(
            f"ws://127.0.0.1:{server.port}/tictactoe", "--bot", "examples.bots:tictactoe",
            "--players", "1", "--duration", "1", "--json", "--quiet",
        )
        report = json.loads(out)
        assert code == 1 and report["players_matched"] == 0 and 0.9 < report["elapsed"] < scaled(8)
        assert report["closes"] == {"1000 (ours, at the end)": 1}
        # A lobby that refuses the handshake (an unknown chess time control: 400).
        code, out, err = await loadtest(
            f"ws://127.0.0.1:{server.port}/chess/ws", "--bot", "examples.bots:chess",
            "--players", "1", "--duration", "1.5", "--json", "--quiet", "--query", "mode=1+1",
        )
        report = json.loads(out)
        assert code == 1 and report["errors"].get("refused 400", 0) >= 1
    code, out, err = await loadtest("http://x/", "--bot", "examples.bots:tictactoe")
    assert code == 2 and "ws://" in err
    code, out, err = await loadtest("ws://x/", "--bot", "examples.tictactoe")
    assert code == 2 and "module:attribute" in err


def test_percentiles_by_nearest_rank() -> None:
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert percentile([], 50) is None and percentile([7.0], 99) == 7.0
