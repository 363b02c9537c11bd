"""Where an archive's URL is read: ``sqlite:///...`` or ``postgresql://...`` to a store."""

from __future__ import annotations

from urllib.parse import urlsplit

from .postgres import PostgresStore
from .sqlite import SQLiteStore
from .store import Store, redact

__all__ = ["store_for"]


def store_for(url: str, *, timeout: float) -> Store:
    """The store for *url*: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``
    (or a bare path ending in ``.db``/``.sqlite``/``.sqlite3``), or
    ``postgresql://user:password@host:port/database`` (``postgres://`` too).

    ``ValueError`` with the forms it accepts for anything else, at once: a
    wrong URL is the application's mistake, not a database outage.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"an archive URL is a non-empty string, not {url!r}")
    scheme = url.split(":", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite" or (not scheme and url.endswith((".db", ".sqlite", ".sqlite3"))):
        path = url[len("sqlite://") :] if scheme else url
        if scheme:
            if not path.startswith("/"):
                raise ValueError(f"a SQLite archive URL is sqlite:///path/to/file.db, not {url!r}")
            path = path[1:]  # sqlite:///games.db is games.db; sqlite:////tmp/g.db is /tmp/g.db
        if not path or path.endswith("/"):
            raise ValueError(f"a SQLite archive URL names a file: sqlite:///games.db, not {url!r}")
        return SQLiteStore(path, timeout=timeout)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        dsn = "postgresql" + url[len(scheme) :]
        parts = urlsplit(dsn)
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError(f"a PostgreSQL archive URL names its server: postgresql://user:password@host:5432/db, not {redact(url)!r}")
        return PostgresStore(dsn, timeout=timeout)
    raise ValueError(
        f"unknown archive URL {redact(url)!r}: use sqlite:///games.db (a file) or postgresql://user:password@host:5432/database"
    )
