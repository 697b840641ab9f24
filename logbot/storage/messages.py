"""One line for a database error, as users see it (no SQLAlchemy or driver imports here,
so that ``logbot search`` can use it without loading either)."""

from __future__ import annotations

__all__ = ["error_line"]


def error_line(exc: BaseException) -> str:
    """The line that says what went wrong, without SQLAlchemy's SQL echo and doc links."""
    orig = getattr(exc, "orig", None)
    base = orig if isinstance(orig, BaseException) else exc
    lines = [line.strip() for line in (str(base).strip() or type(base).__name__).splitlines()]
    first = lines[0]
    # psycopg puts the useful part ("Connection refused") after the address
    if "connection failed" in first and len(lines) > 1:
        rest = " ".join(line for line in lines[1:] if line)
        first = f"{first} ({rest})" if rest else first
    return first
