"""Logging: the loggers of ``ws`` and ``rooms``, and a JSON format for production.

Everything ``ws`` logs goes through the ``ws`` logger (and its children
``ws.server``, ``ws.asgi``); everything ``rooms`` logs through ``rooms``
(``rooms.redis``, ``rooms.archive``).  Nothing is logged per message: at INFO,
a connection failed or dropped (a protocol error, a keepalive timeout, a slow
consumer); at WARNING, a cluster's Redis lost and found again; at ERROR, a
game or handler that raised.  :func:`configure_logging` sends both packages'
logs to a stream, as text or as one JSON object per line
(:class:`JSONFormatter`), which log collectors read without parsing rules.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

__all__ = ["JSONFormatter", "configure_logging", "LOGGERS"]

LOGGERS = ("ws", "rooms")

# What every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (ISO 8601, UTC, in
    milliseconds), ``level``, ``logger``, ``message``, ``exc`` (the traceback)
    when there is one, and every field given with ``extra=``.  Usable by name
    in a ``logging.config`` dictionary (``"()": "ws.JSONFormatter"``)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        return json.dumps(entry, default=repr, ensure_ascii=False)


def configure_logging(
    level: int | str = "INFO",
    *,
    json: bool = False,
    stream: IO[str] | None = None,
    loggers: Iterable[str] = LOGGERS,
) -> logging.Handler:
    """Send the logs of *loggers* (``ws`` and ``rooms``) at *level* and above to
    *stream* (standard error), as text or, with ``json=True``, as JSON lines.
    Calling it again replaces the handler it added before.  Returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name("ws.configure_logging")
    for name in loggers:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "ws.configure_logging"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level.upper() if isinstance(level, str) else level)
        logger.propagate = False
    return handler
