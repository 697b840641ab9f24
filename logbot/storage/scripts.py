"""Where the Alembic migration scripts are and which revisions they define, read without
importing Alembic or SQLAlchemy (``logbot search`` checks a database's revision at start-up
and must stay light; the bot's start skips Alembic when the database is at head)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

__all__ = ["candidates", "find_migrations", "known_revisions"]

_REVISION = re.compile(r"^(down_)?revision\s*(?::[^=]*)?=\s*(?P<value>.+?)\s*$", re.MULTILINE)


def candidates() -> tuple[Path, Path]:
    """Inside the installed package, then the source checkout."""
    packaged = Path(str(resources.files("logbot"))) / "_migrations"
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    return packaged, checkout


def find_migrations() -> Path | None:
    """The folder holding ``env.py`` and ``versions/`` (None: not shipped)."""
    for where in candidates():
        if (where / "env.py").is_file():
            return where
    return None


def known_revisions() -> tuple[frozenset[str], str | None]:
    """Every revision the shipped scripts define, and the head (None unless exactly one).

    Read from the scripts' ``revision = ...`` / ``down_revision = ...`` lines.
    """
    where = find_migrations()
    if where is None:
        return frozenset(), None
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (where / "versions").glob("*.py"):
        revision = None
        for m in _REVISION.finditer(script.read_text(encoding="utf-8")):
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
