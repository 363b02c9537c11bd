"""The rooms layer side by side with Colyseus: ``python -m bench.colyseus`` (``make bench``).

    python -m bench.colyseus                      # every row, ours, ours-uvloop and Colyseus
    python -m bench.colyseus --rows matchmaking,moves-100 --servers ours,colyseus

The same two games on both sides: tic-tac-toe moves relayed and validated
(``bench/servers/ours_tictactoe.py``, ``bench/colyseus/server.mjs``: a Room with
``maxClients = 2``, ``onMessage``, ``broadcast``, the matchmaker's ``joinOrCreate``)
and a 2-player lobby that matches and starts a room.  One server process at a time,
pinned to one CPU; one load generator (``bench/colyseus/load.mjs``, Node, the ``ws``
client under both protocols: Colyseus' own SDK on its side, plain JSON messages on
ours) pinned to the other.  Rows:

- ``matchmaking``: players matched per second, 200 joining at a time;
- ``moves-100``, ``moves-1000``, ``moves-5000``: move round trip p50 and p99 with that
  many players seated, each thinking ``--think`` seconds (jittered) on its turn;
  ``moves-5000`` also gives the server's memory per connected player (RSS growth
  from none to all seated, over the number of players);
- ``capacity``: the most players seated at move p99 <= 50 ms (steps of 1,000 from
  2,000 to 8,000, then 10,000, 12,000 and 15,000; the first step over the bound, or
  with errors, ends the search).

Colyseus and its SDK come from the npm registry into ``bench/colyseus/node_modules``
(``npm ci`` from the committed lockfile, bounded in time), only when this runs.
Servers listen on 127.0.0.1 and are stopped by PID; every load is bounded in count
and time.  Results: ``bench/results/colyseus.json`` and ``.md``.  Nothing asserts
on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .echo import HOST, RESULTS, ROOT, _pin, cpu_plan, free_port, machine_info
from .processes import log_tail, stop, wait_accepting

__all__ = ["ROWS", "SERVERS", "capacity_of", "ensure_packages", "main", "ratio", "table_markdown", "write_chart"]

PACKAGE_DIR = ROOT / "bench" / "colyseus"
NPM_TIMEOUT = 600.0  # npm ci, at most
STARTUP_TIMEOUT = 20.0
LOAD_SLACK = 120.0  # a load process gets connect + warm-up + duration + this, then is killed
P99_BOUND_MS = 50.0
CAPACITY_STEPS = (500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000, 12000, 15000)
CONNECT_WAVE = 10  # players joining at once while a moves row seats its players (both sides alike)
CONNECT_TIMEOUT = 150.0  # seconds to seat them all (Colyseus seats about 100 a second here)

#: The programs, run from the repository root with --host/--port appended.
SERVERS: dict[str, tuple[str, ...]] = {
    "ours": (sys.executable, "bench/servers/ours_tictactoe.py"),
    "ours-uvloop": (sys.executable, "bench/servers/ours_tictactoe.py", "--uvloop"),
    "colyseus": ("node", "bench/colyseus/server.mjs"),
}
PEER = "colyseus"
NONE = "\u2013"  # an en dash in the table: no figure

#: Row -> (load, parameters, the reported figures: key, unit, higher is better).
ROWS: dict[str, tuple[str, dict[str, Any], tuple[tuple[str, str, bool], ...]]] = {
    "matchmaking": ("matchmaking", {"concurrency": 200}, (("value", "players matched/s", True),)),
    "moves-100": ("moves", {"players": 100}, (("p50_ms", "move p50 ms", False), ("p99_ms", "move p99 ms", False))),
    "moves-1000": ("moves", {"players": 1000}, (("p50_ms", "move p50 ms", False), ("p99_ms", "move p99 ms", False))),
    "moves-5000": ("moves", {"players": 5000}, (("p50_ms", "move p50 ms", False), ("p99_ms", "move p99 ms", False),
                                                 ("bytes_per_player", "bytes per connected player", False))),
    "capacity": ("moves", {}, (("players", f"players at move p99 <= {P99_BOUND_MS:g} ms", True),)),
}


class Unavailable(Exception):
    """Node or the npm packages cannot be had: the Colyseus rows are left out."""


def ensure_packages(timeout: float = NPM_TIMEOUT) -> None:
    """``npm ci`` into bench/colyseus when node_modules is missing or older than the lockfile."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node and npm are needed for the Colyseus rows")
    lock = PACKAGE_DIR / "package-lock.json"
    installed = PACKAGE_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    try:
        done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=PACKAGE_DIR,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"npm ci did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise Unavailable("npm ci failed:\n" + "\n".join(done.stderr.strip().splitlines()[-10:]))


@contextlib.contextmanager
def running(name: str, cpu: int | None, log: Path) -> Iterator[tuple[int, int]]:
    """Start server *name* pinned to *cpu*; yield (pid, port); stop it by PID."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([*SERVERS[name], "--host", HOST, "--port", str(port)], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pin(cpu))
    try:
        wait_accepting(proc, HOST, port, log, STARTUP_TIMEOUT, RuntimeError)
        yield proc.pid, port
        if proc.poll() is not None:
            raise RuntimeError(f"{name} died during the run\n{log_tail(log)}")
    finally:
        stop(proc)


def run_load(spec: Mapping[str, Any], cpu: int | None) -> dict[str, Any]:
    """Run bench/colyseus/load.mjs with *spec*, pinned to *cpu*; its JSON result."""
    budget = spec.get("connect_timeout", 60) + spec["warmup"] + spec["duration"] + LOAD_SLACK
    done = subprocess.run(["node", str(PACKAGE_DIR / "load.mjs"), json.dumps(spec)], cwd=PACKAGE_DIR,
                          capture_output=True, text=True, timeout=budget, stdin=subprocess.DEVNULL, preexec_fn=_pin(cpu))
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError("load failed:\n" + "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:]))
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure(name: str, load: str, params: Mapping[str, Any], args: argparse.Namespace,
            cpus: tuple[int | None, int | None], log: Path) -> dict[str, Any]:
    target = PEER if name == PEER else "ours"
    with running(name, cpus[0], log) as (pid, port):
        spec = {"load": load, "target": target, "url": f"http://{HOST}:{port}", "server_pid": pid,
                "duration": args.duration, "warmup": args.warmup, "think": args.think,
                "connect_concurrency": CONNECT_WAVE, "connect_timeout": CONNECT_TIMEOUT, **params}
        return run_load(spec, cpus[1])


def capacity_of(results: Sequence[Mapping[str, Any]], bound_ms: float = P99_BOUND_MS) -> int | None:
    """The most players among *results* (in the order they were tried) whose move p99 is
    within *bound_ms* with no errors, before the first step that is not."""
    best = None
    for result in results:
        p99 = result.get("p99_ms")
        if result.get("errors") or p99 is None or p99 > bound_ms:
            break
        best = result["players"]
    return best


def ratio(ours: float | None, peer: float | None, higher_is_better: bool) -> float | None:
    """Ours against Colyseus, above 1 when ours is better."""
    if not ours or not peer:
        return None
    return ours / peer if higher_is_better else peer / ours


def table_markdown(table: Mapping[str, Mapping[str, float | None]], units: Mapping[str, str],
                   better: Mapping[str, bool], servers: Sequence[str]) -> str:
    mine = [s for s in servers if s != PEER]
    header = ["row", "unit", *servers, *(f"{s}/{PEER}" for s in mine if PEER in servers)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, values in table.items():
        cells = [row, units[row]]
        for s in servers:
            v = values.get(s)
            cells.append(NONE if v is None else f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}")
        if PEER in servers:
            for s in mine:
                r = ratio(values.get(s), values.get(PEER), better[row])
                cells.append(NONE if r is None else f"**{r:.2f}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.colyseus", description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before counting (default %(default)s)")
    parser.add_argument("--think", type=float, default=0.25, help="seconds a player thinks on its turn (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row and server; medians are reported")
    parser.add_argument("--output", type=Path, default=RESULTS / "colyseus.json")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "colyseus.png")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 60 and 0 <= args.warmup <= 30 and 0 < args.think <= 10 and 1 <= args.repeat <= 10):
        parser.error("--duration 0..60 s, --warmup 0..30 s, --think 0..10 s, --repeat 1..10")
    servers = [s for s in args.servers.split(",") if s]
    rows = [r for r in args.rows.split(",") if r]
    for name in servers:
        if name not in SERVERS:
            parser.error(f"unknown server {name!r} (known: {', '.join(SERVERS)})")
    for row in rows:
        if row not in ROWS:
            parser.error(f"unknown row {row!r} (known: {', '.join(ROWS)})")
    if PEER in servers:
        try:
            ensure_packages()
        except Unavailable as exc:
            print(f"colyseus: left out ({exc})", flush=True)
            servers.remove(PEER)
    cpus = cpu_plan()
    load_average = os.getloadavg()
    started = datetime.datetime.now(datetime.UTC)
    print(f"# server on CPU {cpus[0]}, load generator on CPU {cpus[1]}; think {args.think:g} s;"
          f" {args.warmup:g} s warm-up + {args.duration:g} s per run; load average {load_average}", flush=True)
    logs = RESULTS / "logs"
    runs: dict[str, dict[str, list[Any]]] = {row: {s: [] for s in servers} for row in rows}
    for row in rows:
        load, params, _ = ROWS[row]
        for round_ in range(args.repeat):
            for name in servers:
                log = logs / f"colyseus-{row}-{name}-{round_ + 1}.log"
                try:
                    if row == "capacity":
                        steps = []
                        for players in CAPACITY_STEPS:
                            steps.append(measure(name, load, {"players": players}, args, cpus, log))
                            print(f"{row:<12} {name:<12} {players:>6} players  p99 {steps[-1]['p99_ms']:.1f} ms"
                                  f"  errors {steps[-1]['errors']}", flush=True)
                            if capacity_of(steps) != players:
                                break
                        result: dict[str, Any] = {"players": capacity_of(steps), "steps": steps}
                    else:
                        result = measure(name, load, params, args, cpus, log)
                        figures = "  ".join(f"{k} {result.get(k) or 0:,.2f}" for k, *_ in ROWS[row][2])
                        print(f"{row:<12} {name:<12} {figures}  errors {result.get('errors')}"
                              f"  server cpu {result.get('server_cpu') or 0:.0%}  client cpu {result.get('client_cpu') or 0:.0%}",
                              flush=True)
                except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as exc:
                    print(f"{row:<12} {name:<12} failed: {exc}", flush=True)
                    result = {"error": str(exc)}
                runs[row][name].append(result)
    table: dict[str, dict[str, float | None]] = {}
    units: dict[str, str] = {}
    better: dict[str, bool] = {}
    for row in rows:
        for key, unit, higher in ROWS[row][2]:
            label = row if len(ROWS[row][2]) == 1 else f"{row} {unit.split()[1] if unit.startswith('move') else 'memory'}"
            units[label], better[label] = unit, higher
            table[label] = {}
            for name in servers:
                values = [r[key] for r in runs[row][name] if r.get(key) is not None and not r.get("error")]
                table[label][name] = statistics.median(values) if values else None
    markdown = table_markdown(table, units, better, servers)
    print("\n" + markdown, flush=True)
    document = {
        "benchmark": "colyseus", "date": started.isoformat(timespec="seconds"), "machine": machine_info(),
        "load_average_at_start": load_average, "load_average_at_end": os.getloadavg(),
        "settings": {"duration": args.duration, "warmup": args.warmup, "think": args.think, "repeat": args.repeat,
                     "server_cpu": cpus[0], "client_cpu": cpus[1], "p99_bound_ms": P99_BOUND_MS,
                     "capacity_steps": CAPACITY_STEPS},
        "versions": _versions(), "servers": {s: list(SERVERS[s]) for s in servers},
        "table": table, "units": units, "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(markdown + "\n")
    print(f"wrote {args.output} and {args.output.with_suffix('.md')}")
    try:
        write_chart(document, args.chart)
    except ImportError:
        print("matplotlib is not installed: no chart")
    else:
        print(f"wrote {args.chart}")
    return 0


def write_chart(document: Mapping[str, Any], path: Path) -> None:
    """The table as bars, one panel per row (bench.suite's chart)."""
    from .suite import write_chart as bars

    table = document["table"]
    servers = list(document["servers"])
    lower = {row for row, unit in document["units"].items() if not unit.startswith(("players",))}
    title = (f"rooms against Colyseus {document['versions'].get('colyseus')}, one CPU each;"
             f" {document['date'][:10]}, load average {document['load_average_at_start'][0]:.1f}")
    bars(table, document["units"], lower, servers, path, title)


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in ("colyseus", "@colyseus/core", "@colyseus/ws-transport", "@colyseus/sdk", "ws"):
        path = PACKAGE_DIR / "node_modules" / package / "package.json"
        found[package] = json.loads(path.read_text())["version"] if path.exists() else None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return found


if __name__ == "__main__":
    sys.exit(main())
