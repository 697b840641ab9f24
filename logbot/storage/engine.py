"""A path or URL to a SQLAlchemy engine, with the pragmas and errors logbot needs.

API (the bot, ``logbot db`` and ``logbot import`` open databases through this module;
``logbot search`` and ``logbot export`` read with ``sqlite3`` or psycopg directly, see
:mod:`logbot.search`, and share its facts through :mod:`logbot.storage.names`):

- :func:`default_db_path` -> ``Path``: ``$XDG_DATA_HOME/logbot/logbot.sqlite`` on Linux
  (platformdirs ``user_data_path("logbot")``), used when no ``--db`` is given (it lives
  in :mod:`logbot.storage.names`).
- :func:`make_engine` ``(target, *, create_dirs=True, must_exist=False)`` -> ``Engine``:
  ``None`` is the default path; a string containing ``://`` (or starting ``sqlite:``) is a
  SQLAlchemy URL; anything else is a SQLite file path (``~`` expanded). ``postgresql://``
  and ``postgres://`` mean psycopg 3, the driver the ``postgres`` extra installs.
  Creating an engine does not connect: an unreachable server or a file that is not a
  database shows up on first use, as a :class:`StorageError` if the caller uses
  :func:`storage_errors`.
- :func:`storage_errors` ``(engine)``: a context manager turning database exceptions into
  a one-line :class:`StorageError` naming the database (the line itself:
  :func:`logbot.storage.messages.error_line`).
- :func:`display_target` ``(engine)`` -> ``str``: the database as a user should see it (a
  file path, or the URL with the password hidden by :func:`mask_target`, from
  :mod:`logbot.storage.masking`, the one rule every message uses).

SQLite connections run in WAL mode with ``synchronous=NORMAL`` (a commit costs no fsync; a
power loss can lose the last commits but never corrupts) and a busy timeout, so the bot
writes while ``logbot search`` reads.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc

from logbot.storage.masking import mask_target
from logbot.storage.messages import error_line
from logbot.storage.names import (
    NEW_FILE_MODE,
    PG_CONNECT_TIMEOUT,
    PG_INSTALL_HINT,
    default_db_path,
    is_url,
)

__all__ = [
    "NEW_FILE_MODE",
    "PG_CONNECT_TIMEOUT",
    "StorageError",
    "default_db_path",
    "display_target",
    "is_url",
    "make_engine",
    "mask_target",
    "storage_errors",
]

#: how long a SQLite statement waits for another connection's lock before failing
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: SQLite page cache per connection, KiB (negative pragma value = KiB); bounded so the
#: bot stays small (a flood run within 60 MB), large enough for the hot index pages: the
#: right-hand edges, ~300 nicks' leaves, FTS5's structure (measured: 2 MB inserts ~4%
#: slower than 8 MB, 32 MB ~3% faster)
SQLITE_CACHE_KIB = 2_048
#: WAL pages between automatic checkpoints (default 1,000). Every commit rewrites the
#: same few pages (the FTS5 structure record, the right-hand edges of each index); a
#: checkpoint copies each page once however often it changed, so fewer, larger
#: checkpoints move much less data. The WAL file is cut back to this size afterwards.
SQLITE_WAL_AUTOCHECKPOINT = 10_000
SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
#: libpq settings that notice a PostgreSQL connection that died silently (a NAT table
#: forgot it, a failover): TCP keepalives probe an idle connection after 30 s, every 10 s,
#: 3 times; and data left unacknowledged for 30 s (tcp_user_timeout, ms) ends it. Without
#: them a write on a dead connection waits for the kernel's ~15 minutes. The URL's query
#: string overrides each (e.g. ``?keepalives_idle=60``).
PG_CONNECTION_SETTINGS: dict[str, int] = {
    "connect_timeout": PG_CONNECT_TIMEOUT,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


class StorageError(Exception):
    """A database problem a user can cause or fix; ``str()`` is one line, no traceback."""


def make_engine(
    target: str | None,
    *,
    create_dirs: bool = True,
    must_exist: bool = False,
    file_mode: int = NEW_FILE_MODE,
) -> sa.Engine:
    """An engine for ``target`` (None: the default SQLite file; a path; or a URL).

    ``create_dirs`` makes the parent directory of a SQLite file; ``must_exist`` refuses a
    SQLite file that does not exist yet (a reader should not create an empty archive).
    Raises :class:`StorageError` for a bad URL, an unknown database type, a missing driver
    or a missing file. A SQLite file created on first use gets ``file_mode`` (SQLite gives
    its -wal and -shm files the same); an existing file keeps its own.
    """
    if target is None or not is_url(target):
        path = default_db_path() if target is None else Path(target).expanduser()
        return _sqlite_engine(
            path.absolute(), create_dirs=create_dirs, must_exist=must_exist, file_mode=file_mode
        )
    try:
        url = sa.make_url(_quote_user_part(target))
    except (sa_exc.ArgumentError, ValueError):
        raise StorageError(f"not a database URL or file path: {mask_target(target)!r}") from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or (url.query.get("mode") == "memory"):
            return _finish_sqlite(sa.create_engine(url))
        path = Path(url.database or "").expanduser().absolute()
        return _sqlite_engine(
            path, create_dirs=create_dirs, must_exist=must_exist, file_mode=file_mode
        )
    if url.drivername in ("postgresql", "postgres"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; logbot depends on psycopg 3
        url = url.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"application_name": "logbot"}
        for key, value in PG_CONNECTION_SETTINGS.items():
            if key not in url.query:
                connect_args[key] = value
        kwargs["connect_args"] = connect_args
    try:
        return sa.create_engine(url, **kwargs)
    except sa_exc.NoSuchModuleError:
        raise StorageError(
            f"unknown database type {url.drivername!r} in {_safe(url)} "
            "(use a SQLite file path or a postgresql+psycopg:// URL)"
        ) from None
    except ImportError as exc:
        hint = PG_INSTALL_HINT if url.get_backend_name() == "postgresql" else "install it"
        raise StorageError(
            f"the database driver for {url.drivername!r} is not installed "
            f"(no module {exc.name or exc}); {hint}"
        ) from None


def _quote_user_part(target: str) -> str:
    """``target`` with an unencoded ``@`` or ``:`` in the password percent-encoded.

    SQLAlchemy ends the user part at the first ``@``, so ``user:p@ss@host`` would mean the
    host ``ss@host``: connecting fails and every message shows that piece of the password.
    The user part ends at the last ``@`` before the path (as for :func:`mask_target`).
    """
    scheme, sep, rest = target.partition("://")
    base, qmark, query = rest.partition("?")
    head, slash, path = base.partition("/")
    if head.count("@") < 2:
        return target
    userinfo, _, host = head.rpartition("@")
    user, colon, password = userinfo.partition(":")
    quoted = urllib.parse.quote(password, safe="%") if colon else ""
    return f"{scheme}{sep}{user}{colon}{quoted}@{host}{slash}{path}{qmark}{query}"


def _safe(url: sa.URL) -> str:
    # rendered whole, then masked by the one rule: SQLAlchemy's hide_password misses a
    # password in the query string and the part after an unencoded '@'
    return mask_target(url.render_as_string(hide_password=False))


def _sqlite_engine(path: Path, *, create_dirs: bool, must_exist: bool, file_mode: int) -> sa.Engine:
    if path.is_dir():
        raise StorageError(f"{path} is a directory, not a database file")
    if must_exist and not path.exists():
        raise StorageError(f"no database at {path}")
    if create_dirs:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    url = sa.URL.create("sqlite+pysqlite", database=str(path))
    engine = _finish_sqlite(sa.create_engine(url))

    def create_private(*_args: Any) -> None:
        # before SQLite opens (and so creates) the file: it would follow the umask
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode))

    if create_dirs and not path.exists():
        sa_event.listen(engine, "do_connect", create_private)
    return engine


def _finish_sqlite(engine: sa.Engine) -> sa.Engine:
    sa_event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        mode = cur.execute("PRAGMA journal_mode").fetchone()
        if mode is not None and str(mode[0]).lower() not in ("wal", "memory"):
            # a read-only file cannot switch; it still reads fine in its current mode
            with contextlib.suppress(sqlite3.OperationalError):
                cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT}")
        cur.execute(f"PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT}")
        cur.execute("PRAGMA temp_store = MEMORY")
    finally:
        cur.close()


def display_target(engine: sa.Engine) -> str:
    """The database as a user names it: the SQLite file path, or the URL without password."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return _safe(url)


@contextlib.contextmanager
def storage_errors(engine: sa.Engine) -> Iterator[None]:
    """Turn database exceptions raised inside the block into a one-line StorageError."""
    try:
        yield
    except StorageError:
        raise
    except (sa_exc.DBAPIError, sqlite3.Error) as exc:
        raise StorageError(f"database {display_target(engine)}: {error_line(exc)}") from None
    except ImportError as exc:
        raise StorageError(
            f"database {display_target(engine)}: a driver is missing ({exc.name or exc}): "
            f"{PG_INSTALL_HINT}"
        ) from None
