"""Autobahn TestSuite conformance run: kosoku drives the echo server, we summarise.

Run from the repository root::

    python -m bench.autobahn                                  # cases 1-10, 12, 13 vs examples/echo.py
    python -m bench.autobahn --cases "1.*,2.*,7.*"            # a few groups
    python -m bench.autobahn --cases "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*" --exclude "9.3.*"
    python -m bench.autobahn --server "python /tmp/other_echo.py" --report /tmp/ab

The server command is started as a subprocess with ``--host 127.0.0.1 --port N`` appended
(N is a free port picked here), and must echo every text and data message on any path.
Once it accepts TCP connections, ``kosoku -m fuzzingclient 127.0.0.1:N`` runs the selected
cases (one connection per case) and writes Autobahn-format reports (``index.json``,
``index.html`` and one JSON + HTML file per case) into the report directory. Both
subprocesses are bounded in time; on exit only the server process started here is stopped,
by its PID.

A case's verdict is Autobahn's ``behavior``: OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED,
FAILED, or ERROR (kosoku could not run the case). kosoku already folds a failed closing
handshake into ``behavior`` (a wrong close code gives FAILED); should a case ever report a
passing ``behavior`` with an unacceptable ``behaviorClose``, it is counted as FAILED here,
as kosoku's own exit status does. OK, NON-STRICT and INFORMATIONAL pass; FAILED and ERROR
make the exit status 1; UNIMPLEMENTED is reported but does not fail the run (the 12.x and
13.x cases are UNIMPLEMENTED when the server does not negotiate permessage-deflate).
Exit status 2 means the harness itself failed (server did not start, kosoku timed out or
wrote no report).

See docs/conformance.md for how long each group takes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from bench.processes import stop, wait_accepting

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_SERVER = "python examples/echo.py"
DEFAULT_REPORT = ROOT / "bench" / "results" / "autobahn"
#: Every group of the suite: RFC 6455 (1-10; there is no group 8) and permessage-deflate (12, 13).
ALL_CASES = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*", "12.*", "13.*")
DEFAULT_TIMEOUT = 1200.0  # seconds for the whole kosoku run
STARTUP_TIMEOUT = 10.0  # seconds for the server to accept connections

PASSING = frozenset({"OK", "NON-STRICT", "INFORMATIONAL"})
PASSING_CLOSE = frozenset({"OK", "INFORMATIONAL"})
FAILING = frozenset({"FAILED", "ERROR"})
#: Order of the summary line.
VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR")


class HarnessError(Exception):
    """The run could not produce results: the server did not start, or kosoku timed out,
    crashed or wrote no report. Distinct from cases that ran and failed."""


@attrs.frozen
class CaseOutcome:
    """One case's result, read from kosoku's Autobahn-format report."""

    case_id: str
    verdict: str  # behavior, or FAILED when the closing handshake failed (see module doc)
    behavior: str
    behavior_close: str
    remote_close_code: int | None
    duration_ms: int
    description: str = ""
    expectation: str = ""
    result: str = ""
    result_close: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def reason(self) -> str:
        """One line saying what went wrong, for summaries and assertion messages."""
        parts = [f"behavior={self.behavior}", f"close={self.behavior_close}"]
        if self.remote_close_code is not None:
            parts.append(f"server close code {self.remote_close_code}")
        text = "; ".join(dict.fromkeys(t for t in (self.result, self.result_close) if t))
        return f"{', '.join(parts)}: {text}" if text else ", ".join(parts)


# -- running -------------------------------------------------------------------------------


def parse_command(command: str) -> list[str]:
    """Split a server command line. A bare ``*.py`` path, or a leading ``python`` /
    ``python3``, runs under this interpreter."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty server command")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    elif argv[0].endswith(".py"):
        argv.insert(0, sys.executable)
    return argv


def split_cases(value: str) -> list[str]:
    """``"1.*, 2.*"`` -> ``["1.*", "2.*"]``."""
    return [c.strip() for c in value.split(",") if c.strip()]


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def kosoku_command() -> list[str]:
    """The kosoku console script next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).parent / "kosoku"
    if local.exists():
        return [str(local)]
    found = shutil.which("kosoku")
    if found is None:
        raise HarnessError("kosoku is not installed (pip install kosoku, or make install-dev)")
    return [found]


@contextlib.contextmanager
def running_server(
    server_cmd: Sequence[str], log: Path, *, startup_timeout: float = STARTUP_TIMEOUT
) -> Iterator[int]:
    """Start ``server_cmd --host 127.0.0.1 --port N``, wait until it accepts, yield N."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*server_cmd, "--host", HOST, "--port", str(port)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_accepting(proc, HOST, port, log, startup_timeout, HarnessError)
        yield port
    finally:
        stop(proc)


def run_kosoku(
    port: int,
    cases: Sequence[str],
    report_dir: Path,
    timeout: float,
    *,
    exclude: Sequence[str] = (),
    parallelism: int = 1,
) -> subprocess.CompletedProcess[str]:
    """Run kosoku against 127.0.0.1:port; on timeout it is killed (by PID) and we raise."""
    argv = [*kosoku_command(), "-m", "fuzzingclient", f"{HOST}:{port}", "-o", str(report_dir),
            "-p", str(parallelism)]
    for case in cases:
        argv += ["-i", case]
    for case in exclude:
        argv += ["-x", case]
    try:
        return subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"kosoku did not finish within {timeout:.0f} s ({' '.join(argv)})") from exc


def load_report(report_dir: str | os.PathLike[str]) -> list[CaseOutcome]:
    """Read kosoku's ``index.json`` and, for cases that did not pass, their case reports.

    ``index.json`` maps agent (the server's ``Server`` header) -> case id ->
    ``{behavior, behaviorClose, remoteCloseCode, duration, reportfile}``; each
    ``reportfile`` holds the case's description, expectation, and ``result`` /
    ``resultClose`` prose. Cases come back in suite order (1.1.2 before 1.1.10).
    """
    report_dir = Path(report_dir)
    index = json.loads((report_dir / "index.json").read_text())
    outcomes: list[CaseOutcome] = []
    for agent_cases in index.values():
        for case_id, entry in agent_cases.items():
            behavior, close = entry["behavior"], entry["behaviorClose"]
            verdict = behavior
            if behavior in PASSING and close not in PASSING_CLOSE:
                verdict = "FAILED"
            details: dict[str, str] = {}
            if verdict not in PASSING:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    case = json.loads((report_dir / entry["reportfile"]).read_text())
                    details = {
                        "description": case.get("description") or "",
                        "expectation": case.get("expectation") or "",
                        "result": case.get("result") or "",
                        "result_close": case.get("resultClose") or "",
                    }
            outcomes.append(CaseOutcome(
                case_id=case_id, verdict=verdict, behavior=behavior, behavior_close=close,
                remote_close_code=entry.get("remoteCloseCode"),
                duration_ms=int(entry.get("duration") or 0), **details,
            ))
    outcomes.sort(key=lambda o: [int(p) for p in o.case_id.split(".")])
    return outcomes


def run_autobahn(
    cases: Sequence[str],
    server_cmd: Sequence[str],
    timeout: float,
    *,
    exclude: Sequence[str] = (),
    report_dir: str | os.PathLike[str] | None = None,
    parallelism: int = 1,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> list[CaseOutcome]:
    """Start the server, run the selected cases against it, stop it, return the outcomes.

    ``timeout`` bounds the kosoku run (seconds); the server gets ``startup_timeout`` to
    accept connections. The reports go to ``report_dir`` (created if needed; a previous
    ``index.json`` there is removed first), or to a temporary directory that is deleted.
    The server's output is kept in ``server.log`` next to the reports.

    Raises HarnessError when there are no results to read.
    """
    if not cases:
        raise ValueError("no cases selected")
    with contextlib.ExitStack() as stack:
        if report_dir is None:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="autobahn-")))
        else:
            out = Path(report_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "index.json").unlink(missing_ok=True)
        with running_server(server_cmd, out / "server.log", startup_timeout=startup_timeout) as port:
            proc = run_kosoku(port, cases, out, timeout, exclude=exclude, parallelism=parallelism)
        if not (out / "index.json").exists():
            output = (proc.stdout + proc.stderr).strip()[-3000:]
            raise HarnessError(f"kosoku exited with code {proc.returncode} and wrote no report:\n{output}")
        return load_report(out)


def run_cases(cases: list[str], server_cmd: list[str], timeout: float, **kwargs: object) -> dict[str, str]:
    """Case id -> verdict (OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED, ERROR).

    Same arguments as ``run_autobahn`` (pass ``report_dir=`` to keep the reports and read
    the reasons back with ``load_report``).
    """
    return {o.case_id: o.verdict for o in run_autobahn(cases, server_cmd, timeout, **kwargs)}  # type: ignore[arg-type]


# -- reporting -----------------------------------------------------------------------------


def counts(verdicts: Sequence[str]) -> dict[str, int]:
    """Verdict -> number of cases, in the order of ``VERDICTS`` (zeros included)."""
    seen = collections.Counter(verdicts)
    result = {v: seen.pop(v, 0) for v in VERDICTS}
    result.update(seen)  # any label kosoku adds later
    return result


def describe_failures(outcomes: Sequence[CaseOutcome], *, only: frozenset[str] = FAILING) -> str:
    """One paragraph per case whose verdict is in ``only``: id, description, reason."""
    lines = []
    for o in outcomes:
        if o.verdict in only:
            lines.append(f"  {o.case_id} {o.verdict}: {o.reason()}")
            if o.description:
                lines.append(f"      case: {o.description}")
            if o.expectation:
                lines.append(f"      expected: {o.expectation}")
    return "\n".join(lines)


def group_durations(outcomes: Sequence[CaseOutcome]) -> dict[str, float]:
    """Group ("9") -> summed case durations in seconds, as kosoku measured them."""
    totals: dict[str, float] = collections.defaultdict(float)
    for o in outcomes:
        totals[o.case_id.split(".")[0]] += o.duration_ms / 1000
    return dict(totals)


def summary(outcomes: Sequence[CaseOutcome]) -> str:
    count = counts([o.verdict for o in outcomes])
    lines = [f"{len(outcomes)} cases: " + ", ".join(f"{k} {v}" for k, v in count.items())]
    lines.append("case time per group: " + ", ".join(
        f"{g}.* {s:.1f} s" for g, s in sorted(group_durations(outcomes).items(), key=lambda kv: int(kv[0]))))
    if count["UNIMPLEMENTED"]:
        groups = sorted({o.case_id.split(".")[0] for o in outcomes if o.verdict == "UNIMPLEMENTED"}, key=int)
        lines.append(f"UNIMPLEMENTED in groups {', '.join(groups)} (12/13 need permessage-deflate)")
    failed = describe_failures(outcomes)
    if failed:
        lines.append("failed cases:")
        lines.append(failed)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.autobahn", description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cases", default=",".join(ALL_CASES),
                        help="comma-separated case ids or globs, e.g. '1.*,2.*,9.7.1'")
    parser.add_argument("--exclude", default="", help="comma-separated case ids or globs to skip")
    parser.add_argument("--server", default=DEFAULT_SERVER,
                        help="server command ('--host 127.0.0.1 --port N' is appended); a .py path runs under this Python")
    parser.add_argument("--report", default=str(DEFAULT_REPORT), help="directory for kosoku's reports and server.log")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds for the whole kosoku run")
    parser.add_argument("--parallelism", type=int, default=1, help="cases kosoku runs at once")
    args = parser.parse_args(argv)

    cases, exclude = split_cases(args.cases), split_cases(args.exclude)
    started = time.monotonic()
    try:
        outcomes = run_autobahn(cases, parse_command(args.server), args.timeout, exclude=exclude,
                                report_dir=args.report, parallelism=args.parallelism)
    except (HarnessError, ValueError) as exc:
        print(f"autobahn: {exc}", file=sys.stderr)
        return 2
    print(summary(outcomes))
    print(f"wall time {time.monotonic() - started:.1f} s; reports in {args.report}/index.html")
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
