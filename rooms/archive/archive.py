"""``Archive``: finished rooms kept in a database, written without ever blocking a game.

``record(game)`` is synchronous and cheap: it appends the record to the local
spool file (:mod:`.spool`) and queues it.  One writer task moves queued
records to the database in batches; when the database is slow, down or
refuses, the records wait (in memory up to ``max_queue``, on disk up to
``max_spool`` bytes) and the writer retries with a backoff, from ``retry`` up
to ``max_retry`` seconds.  The room id is the key and writing is idempotent,
so a record sent twice (a retry after a lost answer, the spool read again
after a crash) is stored once.  The queries go to the database directly.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any, Self

from ..exceptions import ArchiveError
from ..ratings import Ratings
from .records import GameRecord, PlayerRating, RoomEnd, game_record, mode_text, player_id
from .spool import Spool
from .store import Store
from .urls import store_for

__all__ = ["Archive"]

logger = logging.getLogger("rooms.archive")

_CACHED_RATINGS = 10_000


def _default_spool(store: Store) -> str:
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return path + ".spool"
    digest = hashlib.sha1(store.url.encode()).hexdigest()[:10]
    return os.path.join(os.getcwd(), f"rooms-archive-{digest}.spool")


class Archive:
    """Where a lobby's finished rooms are kept: ``Archive("sqlite:///games.db")``
    or ``Archive("postgresql://user:password@host/db")``.

    ``ValueError`` at once for a URL of neither kind.  Nothing touches the
    database before :meth:`start` (a lobby calls it at its first connection);
    :meth:`open` also connects and raises a clear :class:`~rooms.ArchiveError`
    at once, for a server that should refuse to start on a bad archive.

    Limits (keyword-only; ``None`` disables one): ``max_queue`` records held in
    memory (the rest wait in the spool file only), ``max_spool`` bytes of spool
    (beyond it a record is dropped and logged as an error), ``batch`` records
    per transaction, ``timeout`` seconds for one database call.
    """

    def __init__(
        self,
        url: str,
        *,
        spool: str | os.PathLike[str] | None = None,
        max_queue: int | None = 10_000,
        max_spool: int | None = 2**30,
        batch: int = 100,
        timeout: float = 5.0,
        retry: float = 0.2,
        max_retry: float = 30.0,
        fsync: bool = False,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._url = url
        self.store: Store = store_for(url, timeout=timeout)
        self.url = self.store.url
        self.spool = Spool(spool if spool is not None else _default_spool(self.store), max_bytes=max_spool, fsync=fsync)
        self.max_queue = max_queue
        self.batch = batch
        self.timeout = timeout
        self.retry = retry
        self.max_retry = max_retry
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self.last_error: ArchiveError | None = None
        self._queue: dict[str, GameRecord] = {}
        self._overflow = 0  # records in the spool only (past max_queue)
        self._ratings: collections.OrderedDict[tuple[str, str, str], PlayerRating] = collections.OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"<Archive {self.url} pending={self.pending}>"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Read the spool and start the writer on the running loop (idempotent).
        Never raises for the database: an unreachable one is retried."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._task is not None and not self._task.done():
            return
        if self._closing:
            raise RuntimeError("this archive is closed")
        if self._loop is not None and self._loop is not loop:
            # Used from a new event loop (a second asyncio.run): connections of the
            # old one cannot be used here, so start with a fresh store.
            self.store = store_for(self._url, timeout=self.timeout)
        if not self.spool.is_open:
            for game in self.spool.open():
                self._enqueue(game)
            if self._queue or self._overflow:
                logger.info("archive %s: %d record(s) from the spool to write", self.url, self.pending)
        self._loop = loop
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._wake.set()
        self._task = loop.create_task(self._writer(), name=f"archive writer {self.url}")

    async def open(self) -> Self:
        """:meth:`start`, then connect now: raises :class:`~rooms.ArchiveUnavailable`
        (down; records would wait) or :class:`~rooms.ArchiveError` (a corrupt file,
        a refused login, :class:`~rooms.SchemaError`) with a message saying what to do."""
        self._ensure_started()
        await self.store.connect()
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """Write what is queued (for at most *timeout* seconds; what is left stays in
        the spool for next time), stop the writer, close the database and the spool."""
        if self._task is not None and not self._task.done() and self._loop is asyncio.get_running_loop():
            try:
                await self.flush(timeout)
            except (TimeoutError, ArchiveError):
                logger.warning("archive %s: closing with %d record(s) left in the spool %s", self.url, self.pending, self.spool.path)
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.store.close()
        self.spool.close()

    # ------------------------------------------------------------------ writing

    @property
    def pending(self) -> int:
        """Records not in the database yet."""
        return len(self._queue) + self._overflow

    def record(self, game: GameRecord) -> None:
        """Keep *game*: in the spool at once, in the database soon.  Never blocks and
        never raises (a full spool drops the record with an ERROR log)."""
        try:
            if not self.spool.is_open:
                for old in self.spool.open():
                    self._enqueue(old)
            if game.room_id in self._queue:
                return
            if not self.spool.append(game):
                self.dropped += 1
                logger.error("archive %s: spool %s is full (%s bytes): room %s not archived", self.url, self.spool.path, self.spool.max_bytes, game.room_id)
                return
            self._enqueue(game)
            if self._wake is not None and self._loop is not None and not self._closing:
                self._wake.set()
                self._ensure_started()
        except Exception:
            logger.exception("archive %s: could not record room %s", self.url, game.room_id)

    def record_room(self, end: RoomEnd, *, ratings: Ratings | None = None, details: Callable[[Any, Any], Any] | None = None) -> None:
        """:meth:`record` the room *end* describes: rated by *ratings* when it ended
        with a result (its ``score(room, result)``), with ``details(room, result)``
        as the game's own record.  A hook that raises is logged; the room is still
        archived (unrated, without details)."""
        room = end.room
        scores = record = None
        if ratings is not None and end.code == 1000 and len(room.players) == 2:
            try:
                scores = _checked_scores(ratings.score(room, end.result))
            except Exception:
                logger.exception("archive: the ratings' score hook failed for room %s; not rated", room.id)
                scores = None
        if details is not None:
            try:
                record = details(room, end.result)
            except Exception:
                logger.exception("archive: the record hook failed for room %s", room.id)
        try:
            game = game_record(end, scores=scores, system=ratings.system if ratings is not None else None, record=record)
        except Exception:
            logger.exception("archive: room %s could not be turned into a record", room.id)
            return
        self.record(game)

    def _enqueue(self, game: GameRecord) -> None:
        if self.max_queue is not None and len(self._queue) >= self.max_queue:
            self._overflow += 1
        else:
            self._queue[game.room_id] = game
        if self._idle is not None:
            self._idle.clear()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record so far is in the database (``TimeoutError`` after
        *timeout* seconds; the records keep waiting)."""
        self._ensure_started()
        assert self._idle is not None
        async with asyncio.timeout(timeout):
            while self.pending:
                self._idle.clear()
                await self._idle.wait()

    async def _writer(self) -> None:
        wake, idle = self._wake, self._idle
        assert wake is not None and idle is not None
        delay = self.retry
        while True:
            if not self._queue and self._overflow:
                self._refill()
            if not self._queue:
                idle.set()
                wake.clear()
                await wake.wait()
                continue
            batch = list(self._queue.values())[: self.batch]
            try:
                changed = await self.store.write(batch)
            except ArchiveError as exc:
                self._failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry)
                continue
            except Exception as exc:  # a bug, not the database: keep the records, say so
                logger.exception("archive %s: unexpected error writing %d record(s)", self.url, len(batch))
                self._failed(ArchiveError(str(exc)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry)
                continue
            if self.last_error is not None:
                logger.warning("archive %s: writing again after %d failure(s)", self.url, self.failures)
                self.last_error = None
            delay = self.retry
            for game in batch:
                self._queue.pop(game.room_id, None)
            self.written += len(batch)
            for rating in changed:
                self._remember(rating)
            if self.pending:
                self.spool.written(game.room_id for game in batch)
            else:
                self.spool.clear()

    def _refill(self) -> None:
        """The memory queue is empty but the spool holds more: read them back."""
        self._overflow = 0
        for game in self.spool.pending():
            self._enqueue(game)

    def _failed(self, exc: ArchiveError) -> None:
        self.failures += 1
        if self.last_error is None or str(self.last_error) != str(exc):
            logger.error("archive %s: %s; %d record(s) wait in %s", self.url, exc, self.pending, self.spool.path)
        self.last_error = exc

    def statistics(self) -> dict[str, Any]:
        """Counts for monitoring: written, pending, dropped, failures, and the last error."""
        return {
            "written": self.written,
            "pending": self.pending,
            "dropped": self.dropped,
            "failures": self.failures,
            "last_error": None if self.last_error is None else str(self.last_error),
            "spool": self.spool.path,
            "spool_bytes": self.spool.size,
        }

    # ------------------------------------------------------------------ queries

    async def games(
        self,
        *,
        player: str | None = None,
        lobby: str | None = None,
        mode: Any = None,
        limit: int = 50,
        before: float | None = None,
    ) -> list[GameRecord]:
        """Stored games, the last ended first: those *player* (an id) played, of
        *lobby* and *mode*, that ended before *before* (a ``time.time()``; pass the
        last one's ``ended_at`` for the next page); at most *limit* (1 to 1000).
        Raises :class:`~rooms.ArchiveError` / :class:`~rooms.ArchiveUnavailable`."""
        limit = max(1, min(int(limit), 1000))
        return await self.store.games(player=player, lobby=lobby, mode=None if mode is None else mode_text(mode), limit=limit, before=before)

    async def game(self, room_id: str) -> GameRecord | None:
        """The stored game *room_id*, or ``None`` (also while it waits to be written)."""
        return await self.store.game(room_id)

    async def rating(self, lobby: str, mode: Any, player: str) -> PlayerRating | None:
        """*player*'s stored rating in *lobby* and *mode*; ``None`` before their first rated game."""
        found = await self.store.rating(lobby, mode_text(mode), player)
        if found is not None:
            self._remember(found)
        return found

    async def lookup_rating(self, lobby: str, mode: Any, player: str) -> PlayerRating | None:
        """:meth:`rating` for matchmaking: never raises and waits at most ``timeout``;
        when the database cannot answer, the last rating this archive saw."""
        try:
            return await asyncio.wait_for(self.rating(lobby, mode, player), self.timeout)
        except (ArchiveError, TimeoutError) as exc:
            logger.warning("archive %s: rating of %s unavailable (%s); using the last one known", self.url, player, exc)
            return self._ratings.get((lobby, mode_text(mode), player))

    async def matching_rating(self, lobby: str, mode: Any, identity: Any, ratings: Ratings) -> tuple[float, float]:
        """The rating a player of *lobby* is matched with, and their band's spread
        (``ratings.spread``): their stored Glicko-2 rating (:meth:`lookup_rating`),
        or a newcomer's (an anonymous player is always one)."""
        system = ratings.system
        player = player_id(identity)
        stored = await self.lookup_rating(lobby, mode, player) if player is not None else None
        if stored is None:
            return system.rating, ratings.spread(system.deviation)
        return stored.rating, ratings.spread(stored.deviation)

    async def leaderboard(self, lobby: str, mode: Any, *, limit: int = 50, min_games: int = 1) -> list[PlayerRating]:
        """The *limit* best rated players of *lobby* and *mode* with at least *min_games*."""
        return await self.store.leaderboard(lobby, mode_text(mode), limit=max(1, min(int(limit), 1000)), min_games=min_games)

    def _remember(self, rating: PlayerRating) -> None:
        key = (rating.lobby, rating.mode, rating.player)
        self._ratings[key] = rating
        self._ratings.move_to_end(key)
        while len(self._ratings) > _CACHED_RATINGS:
            self._ratings.popitem(last=False)



def _checked_scores(scores: Any) -> tuple[tuple[float, float], ...] | None:
    """*scores* as per-seat points of 2 seats per game, each in [0, 1]; ``ValueError`` otherwise."""
    if not scores:
        return None
    checked = []
    for game in scores:
        a, b = (float(x) for x in game)
        if not (0.0 <= a <= 1.0 and 0.0 <= b <= 1.0):
            raise ValueError(f"a score is between 0 and 1, not {game!r}")
        checked.append((a, b))
    return tuple(checked)
