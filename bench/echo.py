"""Echo benchmark: our server against peer libraries, in one run, reported as ratios.

Run from the repository root::

    python -m bench.echo                                   # every server, every scenario
    python -m bench.echo --servers websockets,picows --scenarios small-100 --duration 5
    python -m bench.echo --ours "python bench/servers/websockets_echo.py"   # harness check

Each (scenario, server) pair starts the server as a subprocess on 127.0.0.1 and a free
port, waits until it accepts, drives it from one load generator in a second process, and
stops it again (only the PID started here). With two or more CPUs the server is pinned to
one CPU and the client to another, so they do not compete for a core.

The load generator is the same for every server: picows' client (Cython), so that the
client is not what limits the measurement. It reports its own CPU use and the server's over
the measured window; a client near 100% means the number is a floor, not the server's peak.

Results are printed as a table (absolute numbers, then ours/peer) and written to
``bench/results/echo.json`` with the machine description. Absolute numbers depend on the
machine; compare ratios from one run. Nothing here asserts on timings.

Adding a scenario is one function decorated with ``@scenario(...)`` that receives the
running server and the options and returns a measurement (see ``small_1``); a scenario that
needs a different server program names a ``role`` that the servers in ``SERVERS`` provide.
A new kind of client load is an async function registered in ``CLIENT_LOADS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from bench.processes import log_tail, stop, wait_accepting

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"

# Bounds: every wait in this file has one.
STARTUP_TIMEOUT = 15.0  # server must accept connections within this
HELP_TIMEOUT = 15.0  # probing `--help` for options
CONNECT_TIMEOUT = 30.0  # all client connections open within this
CLIENT_SLACK = 60.0  # client process gets duration + warm-up + this, then is killed
MAX_DURATION = 120.0
MAX_CONNECTIONS = 10_000

Measurement = dict[str, Any]
Argv = tuple[str, ...]


# -- servers -----------------------------------------------------------------------------


@attrs.frozen
class Server:
    """A server under test: for each role (``"echo"``, ...) the command that runs it.

    The command is run from the repository root with ``--host H --port P`` appended.
    ``probe_help`` asks the program's ``--help`` whether it accepts ``--no-compression``
    and passes it if so, so that no server compresses while the others do not.
    """

    name: str
    programs: Mapping[str, Argv]
    probe_help: bool = False


def _script(path: str) -> Argv:
    return (sys.executable, path)


#: Our servers: the project on asyncio's loop, and the same code on uvloop (``--uvloop``).
OURS = ("ours", "ours-uvloop")


def _ours_programs(ours: Argv, extra: Argv = ()) -> dict[str, Argv]:
    return {
        "echo": (*ours, *extra),
        # Idle connections: 5,000 of them from one address, over the default per-IP cap.
        "idle": (*ours, *extra, "--max-connections", "20000"),
        "broadcast": (*_script("bench/servers/ours_broadcast.py"), *extra),
        "matchmaking": (*_script("bench/servers/ours_rooms.py"), *extra),
        "chess": (*_script("bench/servers/ours_rooms.py"), *extra),
    }


def _peer(name: str) -> Server:
    programs = {
        "echo": _script(f"bench/servers/{name}_echo.py"),
        "idle": _script(f"bench/servers/{name}_echo.py"),
        "broadcast": _script(f"bench/servers/{name}_broadcast.py"),
    }
    return Server(name, programs)


def make_servers(ours: Argv) -> dict[str, Server]:
    return {
        "ours": Server("ours", _ours_programs(ours), probe_help=True),
        "ours-uvloop": Server("ours-uvloop", _ours_programs(ours, ("--uvloop",)), probe_help=True),
        "websockets": _peer("websockets"),
        "aiohttp": _peer("aiohttp"),
        "picows": _peer("picows"),
    }


DEFAULT_OURS = "python bench/servers/ours_echo.py"


def parse_command(command: str) -> Argv:
    """Split a command line; a leading ``python``/``python3`` means this interpreter."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty command")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return tuple(argv)


SERVERS = make_servers(parse_command(DEFAULT_OURS))


@attrs.frozen
class RunningServer:
    name: str
    pid: int
    host: str
    port: int
    argv: Argv

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"


class ServerFailed(Exception):
    """The server did not start, or did not accept connections in time."""


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _pin(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child to one CPU before it executes anything."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def cpu_plan() -> tuple[int | None, int | None]:
    """(server CPU, client CPU) when there are two CPUs to spare, else no pinning."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


_help_cache: dict[Argv, str] = {}


def _help_text(argv: Argv) -> str:
    if argv not in _help_cache:
        try:
            done = subprocess.run(
                [*argv, "--help"], cwd=ROOT, capture_output=True, text=True,
                timeout=HELP_TIMEOUT, stdin=subprocess.DEVNULL,
            )
            _help_cache[argv] = done.stdout + done.stderr
        except (OSError, subprocess.TimeoutExpired):
            _help_cache[argv] = ""
    return _help_cache[argv]


def server_argv(server: Server, role: str) -> Argv:
    argv = server.programs[role]
    if server.probe_help and "--no-compression" in _help_text(argv):
        argv = (*argv, "--no-compression")
    if server.probe_help and "--uvloop" in argv and "--uvloop" not in _help_text(argv):
        argv = tuple(a for a in argv if a != "--uvloop")  # a custom --ours without the option
    if server.probe_help and "--max-connections" in argv and "--max-connections" not in _help_text(argv):
        i = argv.index("--max-connections")
        argv = (*argv[:i], *argv[i + 2:])
    return argv


@contextlib.contextmanager
def running_server(server: Server, role: str, cpu: int | None, log: Path) -> Iterator[RunningServer]:
    argv = server_argv(server, role)
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--host", HOST, "--port", str(port)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_pin(cpu),
        )
    try:
        wait_accepting(proc, HOST, port, log, STARTUP_TIMEOUT, ServerFailed)
        yield RunningServer(server.name, proc.pid, HOST, port, argv)
        if proc.poll() is not None:
            raise ServerFailed(f"died during the run, code {proc.returncode}\n{log_tail(log)}")
    finally:
        stop(proc)


# -- scenarios ---------------------------------------------------------------------------


@attrs.frozen
class Options:
    duration: float
    warmup: float
    client_cpu: int | None


@attrs.frozen
class Scenario:
    """One measurement: ``run`` gets a running server and returns a measurement whose
    ``"value"`` is reported in the table, in ``metric`` units (higher is better)."""

    name: str
    description: str
    run: Callable[[RunningServer, Options], Measurement]
    metric: str = "round trips/s"
    role: str = "echo"
    #: False for costs (bytes, milliseconds): the table's ratios are then peer/ours,
    #: so that above 1 always means "ours is better".
    higher_is_better: bool = True
    #: Further figures of the same runs, each a row of its own in the table:
    #: (key in the measurement, row suffix, unit, higher is better).
    extra: tuple[tuple[str, str, str, bool], ...] = ()


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str, description: str, *, metric: str = "round trips/s", role: str = "echo",
    higher_is_better: bool = True, extra: tuple[tuple[str, str, str, bool], ...] = (),
) -> Callable[[Callable[[RunningServer, Options], Measurement]], Callable[[RunningServer, Options], Measurement]]:
    def register(run: Callable[[RunningServer, Options], Measurement]) -> Callable[[RunningServer, Options], Measurement]:
        SCENARIOS[name] = Scenario(name, description, run, metric=metric, role=role,
                                   higher_is_better=higher_is_better, extra=extra)
        return run

    return register


def run_client(load: str, params: Mapping[str, Any], server: RunningServer, opts: Options) -> Measurement:
    """Run ``CLIENT_LOADS[load]`` in a separate process, pinned to the client CPU."""
    spec = {
        "load": load, "url": server.url, "server_pid": server.pid,
        "duration": opts.duration, "warmup": opts.warmup,
        # The load generator runs on uvloop when it is there, whatever the server: a
        # faster client, the same for every server.
        "uvloop_client": importlib.util.find_spec("uvloop") is not None, **params,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "_client", json.dumps(spec)],
        cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=opts.warmup + opts.duration + CLIENT_SLACK, preexec_fn=_pin(opts.client_cpu),
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        raise RuntimeError(f"client failed (code {done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def echo_scenario(server: RunningServer, opts: Options, *, size: int, binary: bool,
                  connections: int, in_flight: int) -> Measurement:
    return run_client(
        "echo",
        {"size": size, "binary": binary, "connections": connections, "in_flight": in_flight},
        server, opts,
    )


@scenario("small-1", "32 B text, 1 connection, 1 in flight")
def small_1(server: RunningServer, opts: Options) -> Measurement:
    return echo_scenario(server, opts, size=32, binary=False, connections=1, in_flight=1)


@scenario("small-100", "32 B text, 100 connections, 1 in flight each")
def small_100(server: RunningServer, opts: Options) -> Measurement:
    return echo_scenario(server, opts, size=32, binary=False, connections=100, in_flight=1)


@scenario("pipelined-16", "32 B text, 1 connection, 16 in flight")
def pipelined_16(server: RunningServer, opts: Options) -> Measurement:
    return echo_scenario(server, opts, size=32, binary=False, connections=1, in_flight=16)


@scenario("binary-64k-10", "64 KiB binary, 10 connections, 1 in flight each")
def binary_64k_10(server: RunningServer, opts: Options) -> Measurement:
    return echo_scenario(server, opts, size=64 * 1024, binary=True, connections=10, in_flight=1)


# -- client process ----------------------------------------------------------------------
# Runs in `python -m bench _client SPEC` (bench/__main__.py imports every module that
# registers loads); picows is imported there only.

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (None where unavailable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime


async def echo_load(spec: Mapping[str, Any]) -> Measurement:
    """Keep ``in_flight`` messages outstanding on each of ``connections`` connections.

    Each complete echo (all frames up to FIN) counts one round trip and sends the next
    message. Round trips are counted over ``duration`` seconds after ``warmup``.
    """
    from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    size: int = spec["size"]
    connections: int = spec["connections"]
    in_flight: int = spec["in_flight"]
    if not (0 < connections <= MAX_CONNECTIONS and 0 < in_flight <= 1024 and 0 <= size <= 1 << 26):
        raise ValueError("echo load out of bounds")
    msg_type = WSMsgType.BINARY if spec["binary"] else WSMsgType.TEXT
    payload = os.urandom(size) if spec["binary"] else (b"0123456789abcdef" * (size // 16 + 1))[:size]

    class EchoClient(WSListener):
        def __init__(self) -> None:
            self.transport: WSTransport | None = None
            self.count = 0
            self.partial = 0  # bytes of the message being reassembled
            self.running = True
            self.draining = 0  # echoes still expected after sending stopped
            self.verified = False
            self.errors = 0
            self.dropped = False

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.PING or kind is WSMsgType.PONG:
                return
            if kind is WSMsgType.CLOSE:
                # The server's answer to our Close (or its own Close): the handshake
                # is complete on our side, so the TCP connection can go.
                if self.running:
                    self.dropped = True  # the server closed during the measurement
                    self.running = False
                transport.disconnect()
                return
            if not self.verified:
                # The first echo on each connection is checked: its type, and byte for
                # byte when it comes in one frame (fragmenting is the server's right).
                self.verified = True
                if kind is not msg_type or (frame.fin and frame.get_payload_as_bytes() != payload):
                    self.errors += 1
            self.partial += frame.payload_size
            if not frame.fin:
                return
            if self.partial != size:
                self.errors += 1
            self.partial = 0
            self.count += 1
            if self.running:
                transport.send(msg_type, payload)
            else:
                self.draining -= 1

        def stop(self) -> None:
            if self.running:
                self.running = False
                self.draining = in_flight

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if self.running:
                self.dropped = True
                self.running = False

    clients: list[EchoClient] = []
    gate = asyncio.Semaphore(50)  # bound concurrent handshakes

    async def connect() -> None:
        async with gate:
            _, client = await ws_connect(EchoClient, spec["url"], max_frame_size=1 << 27)
            clients.append(client)

    async with asyncio.timeout(CONNECT_TIMEOUT):
        await asyncio.gather(*(connect() for _ in range(connections)))

    for client in clients:
        for _ in range(in_flight):
            client.transport.send(msg_type, payload)  # type: ignore[union-attr]

    await asyncio.sleep(spec["warmup"])
    server_pid = spec["server_pid"]
    count0, t0 = sum(c.count for c in clients), time.perf_counter()
    cpu0, server0 = time.process_time(), process_cpu_seconds(server_pid)
    await asyncio.sleep(spec["duration"])
    count1, t1 = sum(c.count for c in clients), time.perf_counter()
    cpu1, server1 = time.process_time(), process_cpu_seconds(server_pid)
    elapsed = t1 - t0

    # Close politely so that no server logs resets: let the echoes in flight come back
    # (bounded), send Close, wait for the server's Close, then drop whatever is left.
    for client in clients:
        client.stop()
    deadline = time.monotonic() + 2.0
    while any(c.draining > 0 and not c.dropped for c in clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    transports = [c.transport for c in clients if c.transport is not None]
    for transport in transports:
        if not transport.is_disconnected:
            transport.send_close(WSCloseCode.OK)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await asyncio.gather(*(t.wait_disconnected() for t in transports))
    for transport in transports:
        if not transport.is_disconnected:
            transport.disconnect(graceful=False)

    return {
        "value": (count1 - count0) / elapsed,
        "round_trips": count1 - count0,
        "seconds": elapsed,
        "connections": connections,
        "in_flight": in_flight,
        "size": size,
        "errors": sum(c.errors for c in clients),
        "dropped_connections": sum(c.dropped for c in clients),
        "client_cpu": (cpu1 - cpu0) / elapsed,
        "server_cpu": None if server0 is None or server1 is None else (server1 - server0) / elapsed,
    }


CLIENT_LOADS: dict[str, Callable[[Mapping[str, Any]], Awaitable[Measurement]]] = {
    "echo": echo_load,
}


def client_main(raw_spec: str) -> None:
    spec = json.loads(raw_spec)
    duration, warmup = float(spec["duration"]), float(spec["warmup"])
    if not (0 < duration <= MAX_DURATION and 0 <= warmup <= MAX_DURATION):
        raise ValueError("duration out of bounds")
    loop_factory = asyncio.new_event_loop
    if spec.get("uvloop_client"):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(CLIENT_LOADS[spec["load"]](spec))
    print(json.dumps(result), flush=True)


# -- reporting ---------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=5)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": sys.version,
        "python_implementation": platform.python_implementation(),
        "libraries": {p: _version(p) for p in ("websockets", "aiohttp", "picows", "aiofastnet",
                                               "uvloop", "msgpack", "attrs")},
        "git_commit": _git_commit(),
    }


def ratios(values: Mapping[str, float | None], ours: str = "ours",
           higher_is_better: bool = True) -> dict[str, float | None]:
    """Ours against each peer, so that above 1 means ours is better: ours/peer for
    rates, peer/ours for costs."""
    mine = values.get(ours)
    out: dict[str, float | None] = {}
    for peer, value in values.items():
        if peer in OURS or peer == ours:
            continue
        if mine is None or not value:
            out[peer] = None
        else:
            out[peer] = mine / value if higher_is_better else (value / mine if mine else None)
    return out


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def format_table(results: Mapping[str, Mapping[str, float | None]], servers: Sequence[str],
                 lower_is_better: frozenset[str] | set[str] = frozenset()) -> str:
    """Absolute figures, then ours (and ours-uvloop) against each peer; rows named in
    *lower_is_better* are costs, whose ratio is peer/ours (above 1: ours is better)."""
    mine = [s for s in servers if s in OURS]
    peers = [s for s in servers if s not in OURS]
    pairs = [(o, p) for o in mine for p in peers]
    header = ["scenario", *servers, *(f"{o}/{p}".replace("ours-uvloop", "uvloop") for o, p in pairs)]
    rows = []
    for name, values in results.items():
        cells = [name]
        cells += ["-" if values.get(s) is None else _fmt(values[s]) for s in servers]
        for o, p in pairs:
            r = ratios(values, o, name not in lower_is_better).get(p)
            cells.append("-" if r is None else f"{r:.2f}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(  # noqa: E731
        cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
    )
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


# -- driver ------------------------------------------------------------------------------


def _names(value: str, known: Mapping[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def _cpu_per_op(runs: Sequence[Measurement]) -> float | None:
    """Median server CPU microseconds per unit of the metric (per round trip, delivery...):
    steadier than the rate when other work shares the machine."""
    costs = [r["server_cpu"] / r["value"] * 1e6 for r in runs if r.get("server_cpu") and r.get("value")]
    return statistics.median(costs) if costs else None


def run_scenarios(
    scenario_names: Sequence[str], servers: Mapping[str, Server], server_names: Sequence[str],
    opts: Options, repeat: int, server_cpu: int | None,
) -> tuple[dict[str, dict[str, float | None]], dict[str, Any], set[str]]:
    """Run each scenario against each server (rounds outside, servers inside).

    Returns the table (row -> server -> median), the JSON report per scenario, and
    the names of the rows that are costs (lower is better).
    """
    logs = RESULTS / "logs"
    lower: set[str] = set()
    table: dict[str, dict[str, float | None]] = {}
    report: dict[str, Any] = {}
    for scenario_name in scenario_names:
        sc = SCENARIOS[scenario_name]
        runs: dict[str, list[Measurement]] = {name: [] for name in server_names}
        errors: dict[str, str | None] = {
            name: None if sc.role in servers[name].programs else f"no {sc.role!r} program"
            for name in server_names
        }
        commands: dict[str, list[str]] = {
            name: list(servers[name].programs.get(sc.role, ())) for name in server_names
        }
        # Rounds outside, servers inside: drift on the machine hits every server alike.
        for round_ in range(repeat):
            for server_name in server_names:
                if errors[server_name] is not None:
                    continue
                suffix = f"-{round_ + 1}" if repeat > 1 else ""
                log = logs / f"{scenario_name}-{server_name}{suffix}.log"
                try:
                    with running_server(servers[server_name], sc.role, server_cpu, log) as running:
                        commands[server_name] = list(running.argv)
                        result = sc.run(running, opts)
                except (ServerFailed, RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
                    errors[server_name] = f"{type(exc).__name__}: {exc}"
                    print(f"{scenario_name:<14} {server_name:<11} {'failed':>12}  {errors[server_name]}",
                          flush=True)
                    continue
                runs[server_name].append(result)
                problems = [f"{k}={result[k]}" for k in ("errors", "dropped_connections") if result.get(k)]
                if problems:
                    errors[server_name] = "invalid run: " + ", ".join(problems)
                cpu = "".join(f"  {k.replace('_', ' ')} {result[k]:.0%}"
                              for k in ("server_cpu", "client_cpu") if result.get(k) is not None)
                print(f"{scenario_name:<14} {server_name:<11} {result['value']:>12,.0f} {sc.metric}"
                      f"{cpu}{''.join('  ' + p for p in problems)}"
                      + (f"  (round {round_ + 1})" if repeat > 1 else ""), flush=True)
        def median_of(key: str, name: str) -> float | None:
            values = [r[key] for r in runs[name] if r.get(key) is not None]
            return statistics.median(values) if values and errors[name] is None else None

        rows = {scenario_name: (None, sc.higher_is_better)}
        rows.update({f"{scenario_name} {suffix}": (key, better) for key, suffix, _, better in sc.extra})
        for row, (key, better) in rows.items():
            table[row] = {name: median_of(key or "value", name) for name in server_names}
            if not better:
                lower.add(row)
        report[scenario_name] = {
            "description": sc.description,
            "metric": sc.metric,
            "higher_is_better": sc.higher_is_better,
            "extra": {f"{scenario_name} {suffix}": {"key": key, "unit": unit, "higher_is_better": better}
                      for key, suffix, unit, better in sc.extra},
            "results": {
                name: {"value": table[scenario_name][name], "runs": runs[name],
                       "error": errors[name], "command": commands[name],
                       "server_us_per_op": _cpu_per_op(runs[name]),
                       **{key: median_of(key, name) for key, *_ in sc.extra}}
                for name in server_names
            },
            "ratios": {o: ratios(table[scenario_name], o, sc.higher_is_better)
                       for o in OURS if o in server_names},
        }

    return table, report, lower


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.echo", description="Echo benchmark: ours against peer libraries.",
    )
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated, from: %(default)s")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated, from: %(default)s")
    parser.add_argument("--duration", type=float, default=3.0,
                        help="measured seconds per run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=0.5,
                        help="seconds before counting starts (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per scenario and server; the median is reported")
    parser.add_argument("--ours", default=DEFAULT_OURS,
                        help='command for our echo server (default "%(default)s"); '
                             '--host/--port are appended, "python" means this interpreter')
    parser.add_argument("--output", type=Path, default=RESULTS / "echo.json",
                        help="JSON results file (default bench/results/echo.json)")
    args = parser.parse_args(argv)

    if not (0 < args.duration <= MAX_DURATION and 0 <= args.warmup <= MAX_DURATION):
        parser.error(f"--duration and --warmup must be within (0, {MAX_DURATION:.0f}] seconds")
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be between 1 and 20")
    servers = make_servers(parse_command(args.ours))
    server_names = _names(args.servers, servers, "servers")
    scenario_names = _names(args.scenarios, SCENARIOS, "scenarios")
    server_cpu, client_cpu = cpu_plan()
    opts = Options(duration=args.duration, warmup=args.warmup, client_cpu=client_cpu)
    logs = RESULTS / "logs"

    print(f"# {_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"server on CPU {server_cpu}, client on CPU {client_cpu}; "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per run", flush=True)

    table, report, lower = run_scenarios(scenario_names, servers, server_names, opts, args.repeat, server_cpu)
    print()
    print(format_table(table, server_names, lower))

    document = {
        "benchmark": "echo",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "duration": args.duration, "warmup": args.warmup, "repeat": args.repeat,
            "server_cpu": server_cpu, "client_cpu": client_cpu, "host": HOST,
            "client": "picows ws_connect, one process",
        },
        "servers": {name: {role: list(cmd) for role, cmd in servers[name].programs.items()}
                    for name in server_names},
        "scenarios": report,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "_client":
        client_main(sys.argv[2])
    else:
        sys.exit(main())
