"""Where the Alembic migration scripts are and which revisions they define, read without
importing Alembic or SQLAlchemy (``logbot search`` checks a database's revision at start-up
and must stay light; the bot's start skips Alembic when the database is at head)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["candidates", "find_migrations", "known_revisions"]

_REVISION = re.compile(r"^(down_)?revision\s*(?::[^=]*)?=\s*(?P<value>.+?)\s*$", re.MULTILINE)


def _candidate_dirs() -> tuple[str, str]:
    # logbot is a plain package on disk, so its folder is where importlib.resources would
    # look. os.path, not importlib.resources or pathlib: their imports (tempfile, zipfile,
    # urllib.parse...) cost ~10 ms of a search's start-up.
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    return os.path.join(package, "_migrations"), os.path.join(
        os.path.dirname(package), "migrations"
    )


def _migrations_dir() -> str | None:
    for where in _candidate_dirs():
        if os.path.isfile(os.path.join(where, "env.py")):
            return where
    return None


def candidates() -> tuple[Path, Path]:
    """Inside the installed package, then the source checkout."""
    from pathlib import Path

    packaged, checkout = _candidate_dirs()
    return Path(packaged), Path(checkout)


def find_migrations() -> Path | None:
    """The folder holding ``env.py`` and ``versions/`` (None: not shipped)."""
    from pathlib import Path

    where = _migrations_dir()
    return None if where is None else Path(where)


def known_revisions() -> tuple[frozenset[str], str | None]:
    """Every revision the shipped scripts define, and the head (None unless exactly one).

    Read from the scripts' ``revision = ...`` / ``down_revision = ...`` lines.
    """
    where = _migrations_dir()
    if where is None:
        return frozenset(), None
    revisions: set[str] = set()
    parents: set[str] = set()
    versions = os.path.join(where, "versions")
    for name in os.listdir(versions):
        if not name.endswith(".py"):
            continue
        revision = None
        with open(os.path.join(versions, name), encoding="utf-8") as script:
            text = script.read()
        for m in _REVISION.finditer(text):
            value = m.group("value").strip("\"' ")
            if m.group(1):
                if value != "None":
                    parents.update(re.findall(r"\w+", value))
            else:
                revision = value
        if revision:
            revisions.add(revision)
    heads = revisions - parents
    return frozenset(revisions), (next(iter(heads)) if len(heads) == 1 else None)
