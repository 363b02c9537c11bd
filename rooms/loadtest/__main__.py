"""The command line of :mod:`rooms.loadtest` (``python -m rooms.loadtest --help``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from .report import render_text, summary, write_chart
from .runner import LoadTest, Progress, load_bot, run

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rooms.loadtest", description="Drive bots against a rooms lobby and report what they measured.")
    parser.add_argument("url", help="the lobby, ws://host:port/path (or wss://)")
    parser.add_argument("--bot", required=True, help="module:attribute of the bot (examples.bots:tictactoe, examples.bots:chess)")
    parser.add_argument("--players", type=int, default=10, help="players in all (default 10)")
    parser.add_argument("--rate", type=float, default=10.0, help="new players per second (default 10)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the run lasts at most (default 60)")
    parser.add_argument("--games", type=int, default=None, help="games per player (default: as many as the duration allows)")
    parser.add_argument("--think", type=float, default=0.0, help="seconds a bot waits before each message it sends (default 0)")
    parser.add_argument("--query", action="append", default=[], metavar="NAME=VALUE", help="a query parameter for every connection (repeatable)")
    parser.add_argument("--chart", metavar="OUT.png", help="draw the run into this PNG (needs matplotlib)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    for item in args.query:
        if "=" not in item:
            parser.error(f"--query takes NAME=VALUE, not {item!r}")
    return args


def _live_table(test: LoadTest, progress: Progress) -> Any:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    elapsed = progress.elapsed
    table = Table.grid(padding=(0, 2))
    table.add_row("time", f"{elapsed:5.1f} / {test.duration:g} s", "players", f"{progress.players_started} / {test.players}")
    table.add_row("waiting", str(progress.waiting), "in rooms", str(progress.playing))
    table.add_row("matched", str(progress.matched), "games ended", str(progress.games_ended))
    table.add_row("sent", str(progress.messages_sent), "received", str(progress.messages_received))
    errors = sum(progress.errors.values())
    table.add_row("errors", f"[red]{errors}[/red]" if errors else "0", "", "")
    bar = ProgressBar(total=test.duration, completed=min(elapsed, test.duration), width=50)
    return Group(bar, table)


@contextlib.contextmanager
def _progress_bar(test: LoadTest, progress: Progress, enabled: bool) -> Iterator[Any]:
    """A rich Live display on stderr while the run lasts (nothing without rich, or when disabled)."""
    if not enabled:
        yield None
        return
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:
        print("(no progress bar: pip install 'wsrooms[loadtest]' for it)", file=sys.stderr)
        yield None
        return
    console = Console(stderr=True)
    with Live(_live_table(test, progress), console=console, refresh_per_second=4, transient=False) as live:
        yield lambda: live.update(_live_table(test, progress))


def _raise_file_limit(players: int) -> None:
    """Let one process hold a socket per player: raise the soft limit of open files
    towards the hard one when it is too low (1,024 is a common default)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = players + 64
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _run(test: LoadTest, show: bool) -> Progress:
    progress = Progress()
    with _progress_bar(test, progress, show) as update:
        task = asyncio.get_running_loop().create_task(run(test, progress))
        while not task.done():
            await asyncio.wait([task], timeout=0.25)
            if update is not None:
                update()
        return task.result()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        factory, bot_query = load_bot(args.bot)
        query = {**bot_query, **dict(item.split("=", 1) for item in args.query)}
        test = LoadTest(
            url=args.url,
            bot_factory=factory,
            players=args.players,
            rate=args.rate,
            duration=args.duration,
            games=args.games,
            query=query,
            think=args.think,
        )
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"rooms.loadtest: {exc}", file=sys.stderr)
        return 2
    _raise_file_limit(test.players)
    try:
        progress = asyncio.run(_run(test, show=not args.quiet))
    except KeyboardInterrupt:
        return 130
    report = summary(test, progress)
    if args.chart:
        write_chart(progress, args.chart, title=f"{test.url}: {test.players} players at {test.rate:g}/s")
        report["chart"] = args.chart
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
    return 0 if progress.matched else 1


if __name__ == "__main__":
    sys.exit(main())
