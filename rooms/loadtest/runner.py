"""The load test's engine: players arriving at a rate, each a bot playing games
through a lobby, and what they measure.

Each player is one task: it connects to the lobby (``ws.connect``), waits for
``matched``, lets its bot answer every message the server sends until
``ended``, and joins again for its next game, until its games are played or
the run's duration is over (then it closes with 1000).  Measured: the match
wait (from connecting to ``matched``), the move latency (from a bot's message
to the next message that player receives: the server's answer, a broadcast
of the move as a rule), and how every connection ended (close codes, refused
handshakes, connection errors).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import inspect
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import quote, urlsplit

import attrs

import ws

__all__ = ["BotPlayer", "Bot", "LoadTest", "Progress", "load_bot", "run"]

Bot = Callable[[Any, "BotPlayer"], Any]
"""A bot: ``bot(message, player)`` for each decoded message the server sends;
returns what to send back: ``None``, one message (a JSON-able value), or a list of them."""

_MAX_SAMPLES = 200_000  # latency samples kept (beyond it, every other one is dropped)
_REJOIN_DELAY = 0.5  # seconds before a player whose game failed joins again


@attrs.define(slots=True, eq=False)
class BotPlayer:
    """What a bot knows of its player: ``index`` and ``name`` (``bot-<index>``),
    ``seat`` and ``room`` once matched (``None`` before), ``games`` played so
    far, and ``memory``, a dict the bot may keep anything in (cleared each game)."""

    index: int
    name: str
    seat: int | None = None
    room: str | None = None
    games: int = 0
    memory: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class LoadTest:
    """One run: *players* arrive at *rate* per second at the lobby *url* (with
    *query* added, and ``name=bot-<i>``); each plays *games* games (``None``: as
    many as fit) with a bot from *bot_factory* (called once per game); the run
    ends after *duration* seconds at most.  *think* seconds pass before each
    message a bot sends."""

    url: str
    bot_factory: Callable[[], Bot]
    players: int = 10
    rate: float = 10.0
    duration: float = 60.0
    games: int | None = None
    query: Mapping[str, str] = attrs.field(factory=dict)
    think: float = 0.0
    open_timeout: float = 10.0

    def __attrs_post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("ws", "wss"):
            raise ValueError(f"not a ws:// or wss:// URL: {self.url!r}")
        if self.players < 1 or self.rate <= 0 or self.duration <= 0:
            raise ValueError("players >= 1, rate > 0 and duration > 0, please")
        if self.games is not None and self.games < 1:
            raise ValueError("games >= 1, or None")

    def url_for(self, index: int) -> str:
        """The URL player *index* connects to."""
        query = {**self.query, "name": f"bot-{index}"}
        sep = "&" if "?" in self.url else "?"
        return self.url + sep + "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())


@attrs.define(slots=True, eq=False)
class Progress:
    """The live counters of a run (what the progress bar shows and the report is made of)."""

    started_at: float = attrs.field(factory=time.monotonic)
    players_started: int = 0
    connected: int = 0
    waiting: int = 0
    playing: int = 0
    matched: int = 0
    games_ended: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    match_waits: list[float] = attrs.field(factory=list)
    latencies: list[float] = attrs.field(factory=list)
    # (seconds since the start, latency) for the chart
    latency_points: list[tuple[float, float]] = attrs.field(factory=list)
    closes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    errors: collections.Counter[str] = attrs.field(factory=collections.Counter)
    # (seconds since the start, connected, playing, games ended), sampled
    timeline: list[tuple[float, int, int, int]] = attrs.field(factory=list)
    finished_at: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    def latency(self, seconds: float) -> None:
        self.latencies.append(seconds)
        self.latency_points.append((time.monotonic() - self.started_at, seconds))
        if len(self.latency_points) > _MAX_SAMPLES:
            del self.latency_points[::2]

    def sample(self) -> None:
        self.timeline.append((round(self.elapsed, 3), self.connected, self.playing, self.games_ended))


def load_bot(spec: str) -> tuple[Callable[[], Bot], dict[str, str]]:
    """The bot factory named by *spec* (``module:attribute``) and the query
    parameters it asks for (its ``query`` attribute, if any).

    A class is instantiated for each game (its instances are called); a
    function is the bot itself.  ``ValueError`` for a malformed spec,
    ``ImportError``/``AttributeError`` when it names nothing."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"a bot is module:attribute (examples.bots:tictactoe), not {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    query = {str(k): str(v) for k, v in dict(getattr(target, "query", None) or {}).items()}
    if inspect.isclass(target):
        return cast(Callable[[], Bot], target), query
    if not callable(target):
        raise ValueError(f"{spec} is neither a function nor a class")
    return (lambda: target), query


def _replies(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


async def _play_game(test: LoadTest, me: BotPlayer, progress: Progress) -> bool:
    """One game of player *me*, from connecting to the close; True if it ended with ``ended``."""
    began = time.monotonic()
    connecting = asyncio.ensure_future(ws.connect(test.url_for(me.index), open_timeout=test.open_timeout))
    try:
        sock = await asyncio.shield(connecting)
    except asyncio.CancelledError:
        # The run is over while this player connects: let the handshake end (briefly)
        # and close with 1000, rather than leave the server a dropped connection (1006).
        with contextlib.suppress(Exception, asyncio.CancelledError):
            late = await asyncio.wait_for(connecting, 2.0)
            late.close(ws.CloseCode.NORMAL_CLOSURE, "load test over")
            await asyncio.wait_for(late.wait_closed(), 2.0)
        raise
    except ws.InvalidHandshake as exc:
        progress.errors[f"refused {exc.status}"] += 1
        return False
    except (OSError, TimeoutError, ws.WSError) as exc:
        progress.errors[f"connect: {type(exc).__name__}"] += 1
        return False
    bot = test.bot_factory()
    me.seat = me.room = None
    me.memory = {}
    progress.connected += 1
    progress.waiting += 1
    matched = ended = False
    sent_at: float | None = None
    try:
        async for raw in sock:
            now = time.monotonic()
            progress.messages_received += 1
            if sent_at is not None:
                progress.latency(now - sent_at)
                sent_at = None
            try:
                message = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                message = None
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "matched" and not matched:
                matched = True
                me.seat, me.room = message.get("seat"), message.get("room")  # type: ignore[union-attr]
                progress.match_waits.append(now - began)
                progress.matched += 1
                progress.waiting -= 1
                progress.playing += 1
            elif kind == "ended":
                ended = True
                if message.get("error"):  # type: ignore[union-attr]
                    progress.errors[f"ended: {message['error']}"] += 1  # type: ignore[index]
            for reply in _replies(bot(message if message is not None else raw, me)):
                if test.think:
                    await asyncio.sleep(test.think)
                if sock.closed:
                    break
                sock.text(reply if isinstance(reply, str) else json.dumps(reply))
                progress.messages_sent += 1
                if sent_at is None:
                    sent_at = time.monotonic()
    except ws.Closed as exc:
        code = exc.code
        progress.closes[str(code)] += 1
        if code != ws.CloseCode.NORMAL_CLOSURE:
            progress.errors[f"close {code}"] += 1
        elif not ended:
            progress.errors["closed before ended"] += 1
    except asyncio.CancelledError:
        sock.close(ws.CloseCode.NORMAL_CLOSURE, "load test over")
        try:
            await asyncio.wait_for(sock.wait_closed(), 2.0)
        except TimeoutError:
            sock.abort()
        progress.closes["1000 (ours, at the end)"] += 1
        raise
    finally:
        progress.connected -= 1
        if matched:
            progress.playing -= 1
        else:
            progress.waiting -= 1
    if ended:
        progress.games_ended += 1
        me.games += 1
    return ended


async def _player(test: LoadTest, index: int, progress: Progress) -> None:
    me = BotPlayer(index, f"bot-{index}")
    while test.games is None or me.games < test.games:
        if not await _play_game(test, me, progress):
            await asyncio.sleep(_REJOIN_DELAY)  # refused or failed: do not hammer the server


async def _sampler(progress: Progress, every: float) -> None:
    while True:
        progress.sample()
        await asyncio.sleep(every)


async def run(test: LoadTest, progress: Progress | None = None) -> Progress:
    """Run *test*; the counters it ends with (fill *progress* as it goes, to watch it)."""
    progress = progress or Progress()
    progress.started_at = time.monotonic()
    deadline = progress.started_at + test.duration
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    sampler = loop.create_task(_sampler(progress, max(0.1, min(1.0, test.duration / 200))))
    try:
        for index in range(test.players):
            due = progress.started_at + index / test.rate
            if due >= deadline:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.add(loop.create_task(_player(test, index, progress)))
            progress.players_started += 1
        remaining = deadline - time.monotonic()
        if tasks and remaining > 0:
            await asyncio.wait(tasks, timeout=remaining)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        sampler.cancel()
        progress.finished_at = time.monotonic()
        progress.sample()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            progress.errors[f"bot error: {type(exc).__name__}: {exc}"] += 1
    return progress
