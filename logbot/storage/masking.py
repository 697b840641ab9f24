"""A database target as it may be shown: the one rule that hides passwords.

No imports beyond the standard library, so that ``config check`` and ``search`` can use it
without loading SQLAlchemy. A password can ride in a URL in two places: the user part
(``user:password@host``, where an unencoded ``@`` may be part of the password) and the
query string (``?password=...``, which libpq and psycopg also read). Both are replaced by
``***``; a file path is shown as it is.
"""

from __future__ import annotations

__all__ = ["MASK", "mask_target"]

MASK = "***"

# query keys whose value is a secret (compared case-insensitively); libpq's names
_SECRET_KEYS = frozenset({"password", "passwd", "pwd", "pass", "sslpassword", "passfile"})


def mask_target(target: str) -> str:
    """``target`` (a SQLite path or a database URL) with every password replaced by ``***``."""
    scheme, sep, rest = target.partition("://")
    if not sep:
        return target
    base, qmark, query = rest.partition("?")
    # the user part ends at the LAST '@': an unencoded '@' in a password comes before it
    at = base.rfind("@")
    if at >= 0:
        user, colon, _password = base[:at].partition(":")
        base = f"{user}:{MASK}{base[at:]}" if colon else base
    if qmark:
        query = "&".join(_mask_pair(pair) for pair in query.split("&"))
    return f"{scheme}{sep}{base}{qmark}{query}"


def _mask_pair(pair: str) -> str:
    key, eq, _value = pair.partition("=")
    if eq and key.strip().lower() in _SECRET_KEYS:
        return f"{key}={MASK}"
    return pair
