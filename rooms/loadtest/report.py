"""The load test's report: percentiles, the summary as JSON and as text, the chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .runner import LoadTest, Progress

__all__ = ["percentile", "summary", "render_text", "write_chart"]


def percentile(values: Sequence[float], p: float) -> float | None:
    """The *p*-th percentile (0-100) of *values* by the nearest-rank method; ``None`` for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _distribution(values: Sequence[float]) -> dict[str, Any]:
    """Count and p50/p90/p99/max in milliseconds."""
    ms = [v * 1000 for v in values]
    found: dict[str, Any] = {"count": len(ms)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99)):
        value = percentile(ms, p)
        found[name] = None if value is None else round(value, 3)
    found["max"] = round(max(ms), 3) if ms else None
    return found


def summary(test: LoadTest, progress: Progress) -> dict[str, Any]:
    """What a run measured, as JSON (``--json`` prints it)."""
    elapsed = progress.elapsed
    return {
        "url": test.url,
        "players": test.players,
        "rate": test.rate,
        "duration": test.duration,
        "elapsed": round(elapsed, 3),
        "players_started": progress.players_started,
        "players_matched": progress.matched,
        "games_ended": progress.games_ended,
        "messages_sent": progress.messages_sent,
        "messages_received": progress.messages_received,
        "match_wait_ms": _distribution(progress.match_waits),
        "move_latency_ms": _distribution(progress.latencies),
        "closes": dict(sorted(progress.closes.items())),
        "errors": dict(sorted(progress.errors.items())),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def render_text(report: dict[str, Any]) -> str:
    """The report as plain text (what the CLI prints without ``--json``)."""
    lines = [
        f"load test of {report['url']}: {report['players_started']} players started in {report['elapsed']:.1f} s",
        f"  players matched  {report['players_matched']}",
        f"  games ended      {report['games_ended']}",
        f"  messages         {report['messages_sent']} sent, {report['messages_received']} received",
    ]
    for title, key in (("match wait", "match_wait_ms"), ("move latency", "move_latency_ms")):
        d = report[key]
        lines.append(f"  {title:<16} p50 {_ms(d['p50'])}  p90 {_ms(d['p90'])}  p99 {_ms(d['p99'])}  max {_ms(d['max'])}  ({d['count']} samples)")
    closes = ", ".join(f"{code}: {n}" for code, n in report["closes"].items()) or "none"
    lines.append(f"  closes by code   {closes}")
    errors = report["errors"]
    lines.append("  errors           " + (", ".join(f"{what}: {n}" for what, n in errors.items()) if errors else "none"))
    return "\n".join(lines)


def write_chart(progress: Progress, path: str, title: str = "") -> None:
    """A PNG of the run: players connected and in rooms, games ended per second,
    and the move latency (p50 and p99 per second).  Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    times = [t for t, *_ in progress.timeline]
    top.plot(times, [c for _, c, _, _ in progress.timeline], label="connected")
    top.plot(times, [p for _, _, p, _ in progress.timeline], label="in rooms")
    top.set_ylabel("players")
    top.legend(loc="upper left")
    rates = []
    for (t0, *_, g0), (t1, *_, g1) in zip(progress.timeline, progress.timeline[1:], strict=False):
        rates.append((t1, (g1 - g0) / (t1 - t0) if t1 > t0 else 0.0))
    middle.plot([t for t, _ in rates], [r for _, r in rates], color="tab:green")
    middle.set_ylabel("games ended / s")
    width = max(0.1, progress.elapsed / 60)  # about 60 points, whatever the run's length
    bins: dict[int, list[float]] = {}
    for t, latency in progress.latency_points:
        bins.setdefault(int(t / width), []).append(latency * 1000)
    keys = sorted(bins)
    bottom.plot([k * width for k in keys], [percentile(bins[k], 50) for k in keys], label="p50")
    bottom.plot([k * width for k in keys], [percentile(bins[k], 99) for k in keys], label="p99")
    bottom.set_ylabel("move latency (ms)")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper left")
    fig.suptitle(title or "load test")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
