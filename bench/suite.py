"""The whole benchmark suite, one command: ``make bench`` (``python -m bench``).

Runs every scenario of ``bench.echo`` and ``bench.scenarios`` against our server (on
asyncio's loop and on uvloop) and each peer (websockets, aiohttp, picows), one server at
a time, pinned to one CPU with the load generator (picows) on another; then the Autobahn
9.* performance cases against our echo server and websockets'.  It prints a table of
absolute figures and ratios, and writes:

- ``bench/results/suite.json``: every run, medians, ratios, the machine and versions;
- ``bench/results/suite.md``: the table in Markdown (for docs/performance.md);
- ``docs/performance.png``: the chart.

    python -m bench                                   # everything, about 10 minutes
    python -m bench --scenarios small-100,broadcast-1000 --servers ours,websockets
    python -m bench --repeat 3 --duration 5           # medians of 3 longer runs

Ratios are "ours against the peer", oriented so that above 1 means ours is better
(ours/peer for rates, peer/ours for bytes and milliseconds).  Nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import scenarios as _scenarios  # noqa: F401  (registers the scenarios)
from .echo import (
    DEFAULT_OURS,
    MAX_DURATION,
    OURS,
    RESULTS,
    ROOT,
    SCENARIOS,
    Options,
    _cpu_model,
    _names,
    cpu_plan,
    format_table,
    machine_info,
    make_servers,
    parse_command,
    ratios,
    run_scenarios,
)

AUTOBAHN = "autobahn-9"
AUTOBAHN_TIMEOUT = 300.0
CHART = ROOT / "docs" / "performance.png"

#: What runs the 9.* cases for each server (the echo programs, pinned like the others).
AUTOBAHN_SERVERS = {
    "ours": ("examples/echo.py", "--no-compression"),
    "ours-uvloop": ("examples/echo.py", "--no-compression", "--uvloop"),
    "websockets": ("bench/servers/websockets_echo.py",),
    "aiohttp": ("bench/servers/aiohttp_echo.py",),
}


def run_autobahn_perf(server_names: Sequence[str], repeat: int, server_cpu: int | None) -> dict[str, Any]:
    """Total time of the Autobahn 9.* cases (limits and performance: large messages,
    many fragments) per server, from kosoku's per-case durations; lower is better."""
    from .autobahn import PASSING, HarnessError, run_autobahn

    pin = ("taskset", "-c", str(server_cpu)) if server_cpu is not None and shutil.which("taskset") else ()
    results: dict[str, Any] = {}
    for name in server_names:
        if name not in AUTOBAHN_SERVERS:
            continue
        runs = []
        error = None
        for _ in range(repeat):
            cmd = [*pin, sys.executable, *AUTOBAHN_SERVERS[name]]
            t0 = time.perf_counter()
            try:
                with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
                    outcomes = run_autobahn(["9.*"], cmd, AUTOBAHN_TIMEOUT, report_dir=tmp)
            except (HarnessError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                print(f"{AUTOBAHN:<14} {name:<11} {'failed':>12}  {error}", flush=True)
                break
            wall = time.perf_counter() - t0
            failed = [o.case_id for o in outcomes if o.verdict not in PASSING]
            durations = {o.case_id: o.duration_ms for o in outcomes if o.verdict in PASSING}
            total = sum(o.duration_ms for o in outcomes) / 1000
            runs.append({"total_all_cases": total, "wall_seconds": wall, "cases": len(outcomes),
                         "failed": failed, "durations_ms": durations})
            print(f"{AUTOBAHN:<14} {name:<11} {total:>12,.2f} s total over {len(outcomes)} cases"
                  f"  (wall {wall:.1f} s){'  not passing: ' + ', '.join(failed) if failed else ''}", flush=True)
        results[name] = {"value": None, "runs": runs, "error": error, "command": list(AUTOBAHN_SERVERS[name])}
    # Compare like with like: the total over the cases that every server passed (a case a
    # server fails early, e.g. websockets' "too many fragments" on 9.3.x/9.4.x, is left out).
    passed = [set(r["durations_ms"]) for res in results.values() for r in res["runs"]]
    common = set.intersection(*passed) if passed else set()
    for res in results.values():
        res["cases_compared"] = len(common)
        res["not_passing"] = sorted({c for r in res["runs"] for c in r["failed"]})
        if res["runs"] and res["error"] is None:
            res["value"] = statistics.median(sum(r["durations_ms"][c] for c in common) / 1000 for r in res["runs"])
    return results


# -- chart and markdown ------------------------------------------------------------------

COLORS = {"ours": "#1f77b4", "ours-uvloop": "#17becf", "websockets": "#ff7f0e",
          "aiohttp": "#2ca02c", "picows": "#7f7f7f", "colyseus": "#d62728"}


def write_chart(table: Mapping[str, Mapping[str, float | None]], units: Mapping[str, str],
                lower: set[str], servers: Sequence[str], path: Path, title: str) -> None:
    """One small bar chart per row: absolute figures per server, labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table if any(v is not None for v in table[r].values())]
    cols = 4
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, row in zip(axes.flat, rows):
        names = [s for s in servers if table[row].get(s) is not None]
        values = [table[row][s] for s in names]
        bars = ax.bar(range(len(names)), values, color=[COLORS.get(s, "#999999") for s in names])
        ax.set_xticks(range(len(names)), [n.replace("ours-uvloop", "ours\nuvloop") for n in names], fontsize=8)
        better = "lower is better" if row in lower else "higher is better"
        ax.set_title(f"{row}\n{units.get(row, '')} ({better})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        top = max(values) if values else 1
        for bar, value in zip(bars, values):
            label = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + top * 0.01, label,
                    ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, top * 1.15)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown_table(table: Mapping[str, Mapping[str, float | None]], units: Mapping[str, str],
                   lower: set[str], servers: Sequence[str]) -> str:
    mine = [s for s in servers if s in OURS]
    peers = [s for s in servers if s not in OURS]
    pairs = [(o, p) for o in mine for p in peers]
    header = ["scenario", "unit", *servers, *(f"{o}/{p}".replace("ours-uvloop", "uvloop") for o, p in pairs)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, values in table.items():
        cells = [row, units.get(row, "")]
        for s in servers:
            v = values.get(s)
            cells.append("–" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"))
        for o, p in pairs:
            r = ratios(values, o, row not in lower).get(p)
            cells.append("–" if r is None else f"**{r:.2f}**" if o == "ours" else f"{r:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# The targets of the performance issue: echo and broadcast rows against each peer (rate,
# and server CPU per operation), idle memory against websockets.
TARGET_ROWS = ("small-1", "small-100", "pipelined-16", "binary-64k-10", "broadcast-1000")
TARGETS = {"websockets": 1.5, "aiohttp": 1.0, "picows": 1 / 1.5}
MEMORY_ROW, MEMORY_TARGET = "idle-5000", 2.0


def targets_table(table: Mapping[str, Mapping[str, float | None]],
                  cpu_table: Mapping[str, Mapping[str, float | None]], servers: Sequence[str]) -> str:
    """Markdown: each target, and whether the rate ratio and the CPU ratio meet it
    (both: met, one of the two: ~, neither: not met)."""
    mine = [s for s in servers if s in OURS]
    peers = [p for p in TARGETS if p in servers]
    header = ["row", *(f"{o}/{p} >= {TARGETS[p]:.2f}".replace("ours-uvloop", "uvloop") for o in mine for p in peers)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in TARGET_ROWS:
        if row not in table:
            continue
        cells = [row]
        cpu = cpu_table.get(f"{row} (server us/op)", {})
        for o in mine:
            for p in peers:
                rate, per_op = ratios(table[row], o, True).get(p), ratios(cpu, o, False).get(p)
                if rate is None:
                    cells.append("–")
                    continue
                met = [r is not None and r >= TARGETS[p] for r in (rate, per_op)]
                mark = "✓" if all(met) else "~" if any(met) else "✗"
                cells.append(f"{rate:.2f} / {'–' if per_op is None else f'{per_op:.2f}'} {mark}")
        lines.append("| " + " | ".join(cells) + " |")
    if MEMORY_ROW in table and "websockets" in servers:
        memory = ", ".join(
            f"{o} {ratios(table[MEMORY_ROW], o, False)['websockets']:.2f}x less than websockets"
            for o in mine if ratios(table[MEMORY_ROW], o, False).get("websockets") is not None
        )
        lines.append(f"\nIdle memory per connection (target: at least {MEMORY_TARGET:g}x less than websockets): {memory}.")
    return "\n".join(lines)


# -- driver ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    all_scenarios = [*SCENARIOS, AUTOBAHN]
    servers = make_servers(parse_command(DEFAULT_OURS))
    parser = argparse.ArgumentParser(prog="python -m bench", description="The benchmark suite.")
    parser.add_argument("--servers", default=",".join(servers), help="comma-separated, from: %(default)s")
    parser.add_argument("--scenarios", default=",".join(all_scenarios), help="comma-separated, from: %(default)s")
    parser.add_argument("--duration", type=float, default=2.0, help="measured seconds per run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before counting (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario and server; medians are reported (default %(default)s)")
    parser.add_argument("--output", type=Path, default=RESULTS / "suite.json", help="JSON results file")
    parser.add_argument("--chart", type=Path, default=CHART, help="PNG chart (default docs/performance.png)")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= MAX_DURATION and 0 <= args.warmup <= MAX_DURATION):
        parser.error(f"--duration and --warmup must be within (0, {MAX_DURATION:.0f}] seconds")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be between 1 and 20")
    server_names = _names(args.servers, servers, "servers")
    known = {name: None for name in all_scenarios}
    chosen = _names(args.scenarios, known, "scenarios")
    server_cpu, client_cpu = cpu_plan()
    opts = Options(duration=args.duration, warmup=args.warmup, client_cpu=client_cpu)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"# {_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"server on CPU {server_cpu}, client on CPU {client_cpu}; "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per run; load average {load}", flush=True)

    started = time.monotonic()
    regular = [n for n in chosen if n != AUTOBAHN]
    table, report, lower = run_scenarios(regular, servers, server_names, opts, args.repeat, server_cpu)
    units = {row: SCENARIOS[row].metric for row in regular}
    for name in regular:
        units.update({row: extra["unit"] for row, extra in report[name]["extra"].items()})
    if AUTOBAHN in chosen:
        ab = run_autobahn_perf(server_names, args.repeat, server_cpu)
        row = f"{AUTOBAHN} total s"
        table[row] = {name: ab[name]["value"] if name in ab else None for name in server_names}
        lower.add(row)
        compared = max((r.get("cases_compared", 0) for r in ab.values()), default=0)
        units[row] = f"s, sum over the {compared} 9.* cases all pass"
        report[AUTOBAHN] = {"description": "Autobahn 9.* cases' total duration (kosoku)",
                            "metric": "seconds", "higher_is_better": False, "results": ab,
                            "ratios": {o: ratios(table[row], o, False) for o in OURS if o in server_names}}
    elapsed = time.monotonic() - started

    print()
    print(format_table(table, server_names, lower))
    cpu_table = {
        f"{name} (server us/op)": {s: report[name]["results"][s].get("server_us_per_op") for s in server_names}
        for name in regular
        if any(report[name]["results"][s].get("server_us_per_op") for s in server_names)
    }
    if cpu_table:
        print("\nServer CPU time per operation (microseconds; lower is better, steadier on a busy machine):")
        print(format_table(cpu_table, server_names, set(cpu_table)))
    md = markdown_table(table, units, lower, server_names)
    document = {
        "benchmark": "suite",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_average_at_start": load,
        "seconds": elapsed,
        "settings": {
            "duration": args.duration, "warmup": args.warmup, "repeat": args.repeat,
            "server_cpu": server_cpu, "client_cpu": client_cpu,
            "client": "picows ws_connect (on uvloop when installed), one process",
        },
        "servers": {name: {role: list(cmd) for role, cmd in servers[name].programs.items()}
                    for name in server_names},
        "table": table,
        "server_cpu_us_per_op": cpu_table,
        "units": units,
        "lower_is_better": sorted(lower),
        "scenarios": report,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    md_cpu = markdown_table(cpu_table, {row: "us/op" for row in cpu_table}, set(cpu_table), server_names)
    targets = targets_table(table, cpu_table, server_names)
    args.output.with_suffix(".md").write_text(
        md + "\n\nServer CPU time per operation:\n\n" + md_cpu
        + "\n\nTargets (rate ratio / CPU-per-operation ratio):\n\n" + targets + "\n"
    )
    info = document["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if v and k in ("websockets", "aiohttp", "picows", "uvloop"))
    title = (f"{info['cpu_model']}, {info['cpu_count']} CPUs, Python {platform.python_version()}; {libs}; "
             f"{document['date'][:10]}")
    try:
        write_chart(table, units, lower, server_names, args.chart, title)
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[bench]')")
    else:
        print(f"wrote {args.chart}")
    print(f"wrote {args.output} and {args.output.with_suffix('.md')} ({elapsed:.0f} s)")
    return 0
