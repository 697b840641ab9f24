"""Opening a database for reading: which reader a ``--db`` value needs, and whether this
logbot can read its schema revision.

A SQLite file (a path, or a ``sqlite:///`` URL) is read by
:class:`logbot.search.sqlite.SqliteReader`, anything else by
:class:`logbot.search.postgres.PostgresReader`; each module is imported only when it is
needed.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from logbot.search.request import SearchError
from logbot.storage.names import default_db_path, is_url
from logbot.storage.scripts import known_revisions

if TYPE_CHECKING:
    from logbot.search.reader import Reader

__all__ = ["check_revision", "open_reader"]

_SQLITE_URL = re.compile(r"sqlite(?:\+\w+)?:///(?P<path>[^?]*)(?:\?.*)?")


def check_revision(revision: str | None, where: str) -> list[str]:
    """Refuse a database this code cannot read; remarks for one it can but should upgrade.

    A newer revision (written by a newer logbot) may have changed anything: an error. An
    older one is read as it is (every query names its tables, columns and indexes, and
    PostgreSQL's full-text expression is read from the index itself), with a note.
    """
    if revision is None:
        raise SearchError(f"{where} is not a logbot database (no schema version)")
    known, head = known_revisions()
    if not known:
        return []
    if revision not in known:
        raise SearchError(
            f"{where} has schema revision {revision}, newer than this logbot knows "
            f"(up to {head}): upgrade logbot"
        )
    if head is not None and revision != head:
        return [
            f"{where} has the older schema revision {revision} (newest: {head}); "
            f"`logbot db upgrade --db {where}` brings it up to date"
        ]
    return []


def open_reader(target: str | None) -> Reader:
    """A read-only reader for ``target`` (None: the default SQLite file; a path; a URL)."""
    path = str(default_db_path()) if target is None else _sqlite_path(target)
    if path is not None:
        from logbot.search.sqlite import SqliteReader

        return SqliteReader(path)
    from logbot.search.postgres import PostgresReader

    assert target is not None  # None is the default SQLite file
    return PostgresReader(target)


def _sqlite_path(target: str) -> str | None:
    """The SQLite file ``target`` names (a path or a ``sqlite:///`` URL); None for any
    other URL."""
    if not is_url(target):
        return os.path.expanduser(target)
    m = _SQLITE_URL.fullmatch(target)
    if m is not None and m.group("path") not in ("", ":memory:"):
        return os.path.expanduser(m.group("path"))
    if target.startswith("sqlite:"):
        raise SearchError(f"an in-memory database has nothing to search: {target}")
    return None
