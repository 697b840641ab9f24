"""``logbot search`` and ``logbot export``: read-only queries over the stored events.

- :mod:`~logbot.search.request`: what was asked (:class:`SearchRequest`, :class:`Filters`,
  :func:`parse_kinds`), :func:`run_search` and what it found (:class:`Outcome`);
  :data:`USER_ERRORS` are the exceptions whose message is the whole story for the user.
- :mod:`~logbot.search.opening`: :func:`open_reader` picks the reader for a ``--db`` value
  and refuses a schema revision this logbot cannot read.
- :mod:`~logbot.search.reader`: the shared planner (:class:`Reader`).
- :mod:`~logbot.search.sqlite`: SQLite through the standard library's ``sqlite3``, opened
  read-only; :mod:`~logbot.search.postgres`: PostgreSQL through psycopg 3 directly, in
  read-only transactions. Neither uses SQLAlchemy (its import alone costs more than a
  whole search), and each is imported only when a database of its kind is opened.

Nothing here creates, migrates or writes a database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logbot.search.opening import open_reader
from logbot.search.reader import Reader, nick_key
from logbot.search.request import (
    USER_ERRORS,
    Filters,
    Outcome,
    SearchError,
    SearchRequest,
    SearchTimeout,
    Window,
    build_filters,
    group_windows,
    parse_kinds,
    run_search,
)

if TYPE_CHECKING:
    from logbot.search.postgres import PostgresReader, pg_connect_args
    from logbot.search.sqlite import SqliteReader

__all__ = [
    "USER_ERRORS",
    "Filters",
    "Outcome",
    "PostgresReader",
    "Reader",
    "SearchError",
    "SearchRequest",
    "SearchTimeout",
    "SqliteReader",
    "Window",
    "build_filters",
    "group_windows",
    "nick_key",
    "open_reader",
    "parse_kinds",
    "pg_connect_args",
    "run_search",
]

# loaded on first use: a search imports only the engine module it needs
_LAZY = {
    "SqliteReader": "logbot.search.sqlite",
    "PostgresReader": "logbot.search.postgres",
    "pg_connect_args": "logbot.search.postgres",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
