"""The archive's local spool: every record is on disk before its room ends.

An append-only file of JSON lines: ``{"r": record}`` when a room ends, ``{"w":
[room ids]}`` once the database has them.  The records without a ``w`` line are
the ones still to write; they are read back when the process starts again,
after a crash or a ``kill -9``.  A line cut short by a kill is skipped.  The
file is emptied whenever everything in it is written, so it stays small
while the database keeps up.

One process writes one spool: the file is locked (``flock``) while open.  A
second archive on the same path takes ``<path>.1`` (then ``.2``, ...); a
spool left behind by a process that is gone is taken over by the next archive
that opens that path, its records appended to its own.

Appending is one ``write`` call on the event loop thread (the page cache,
microseconds), so a record survives the process dying at any instruction
after :meth:`Spool.append` returned.  ``fsync=True`` also makes it survive a
power cut, at the cost of a disk flush per room.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

from .records import GameRecord, dumps, from_json, to_json

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

__all__ = ["Spool"]

logger = logging.getLogger("rooms.archive")


class Spool:
    """The spool file at *path* (see the module docstring); ``max_bytes`` bounds it
    (``None``: no bound)."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int | None = 2**30, fsync: bool = False) -> None:
        self.base = os.fspath(path)
        self.path = self.base
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._fd: int | None = None
        self.size = 0

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> list[GameRecord]:
        """Lock a spool file of this path and return the records it holds that are
        still to write (with those of spools left by processes that are gone)."""
        if self._fd is not None:
            return self.pending()
        directory = os.path.dirname(os.path.abspath(self.base))
        os.makedirs(directory, exist_ok=True)
        number = 0
        while True:
            path = self.base if number == 0 else f"{self.base}.{number}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            if _lock(fd):
                break
            os.close(fd)
            number += 1
        self._fd, self.path = fd, path
        self.size = os.fstat(fd).st_size
        for orphan in self._siblings():
            self._adopt(orphan)
        return self.pending()

    def _siblings(self) -> list[str]:
        directory, name = os.path.split(os.path.abspath(self.base))
        found = []
        for entry in os.listdir(directory):
            if entry == name or (entry.startswith(name + ".") and entry[len(name) + 1 :].isdigit()):
                path = os.path.join(directory, entry)
                if os.path.abspath(path) != os.path.abspath(self.path):
                    found.append(path)
        return found

    def _adopt(self, path: str) -> None:
        """Take over the spool *path* if no process holds it: copy its pending records, remove it."""
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return
        try:
            if not _lock(fd):
                return
            records = _pending(_read(fd))
            for game in records:
                self._write({"r": to_json(game)})
            if records:
                logger.warning("archive spool %s: took over %d record(s) from %s", self.path, len(records), path)
            os.unlink(path)
        finally:
            os.close(fd)

    def append(self, game: GameRecord) -> bool:
        """Write *game* to the spool; False (nothing written) when the spool is full."""
        line = dumps({"r": to_json(game)}) + "\n"
        if self.max_bytes is not None and self.size + len(line) > self.max_bytes:
            return False
        self._write_line(line)
        return True

    def written(self, room_ids: Iterable[str]) -> None:
        """The database has these records now."""
        self._write({"w": list(room_ids)})

    def clear(self) -> None:
        """Everything in the spool is written: empty it."""
        if self._fd is not None and self.size:
            os.ftruncate(self._fd, 0)
            self.size = 0

    def pending(self) -> list[GameRecord]:
        """The records in the spool that are still to write, oldest first."""
        if self._fd is None:
            return []
        return _pending(_read(self._fd))

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file releases the lock

    def _write(self, obj: object) -> None:
        self._write_line(dumps(obj) + "\n")

    def _write_line(self, line: str) -> None:
        if self._fd is None:
            raise RuntimeError("the spool is not open")
        data = line.encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.size += len(data)
        if self.fsync:
            os.fsync(self._fd)


def _lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(fd: int) -> list[dict[str, Any]]:
    """Every complete line of the file, parsed; a broken line is skipped."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    entries = []
    for number, raw in enumerate(b"".join(chunks).split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            logger.warning("archive spool: line %d is cut short or damaged; skipped", number)
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _pending(entries: list[dict[str, Any]]) -> list[GameRecord]:
    done = {room_id for entry in entries for room_id in entry.get("w", ())}
    records: dict[str, GameRecord] = {}
    for entry in entries:
        data = entry.get("r")
        if data is None or data.get("room_id") in done:
            continue
        try:
            game = from_json(data)
        except (TypeError, ValueError, KeyError) as exc:
            logger.warning("archive spool: a record that cannot be read (%s); skipped", exc)
            continue
        records.setdefault(game.room_id, game)
    return list(records.values())
