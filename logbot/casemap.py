"""IRC casemapping facts shared by the IRC side and storage (no imports: both may use it)."""

from __future__ import annotations

from string import ascii_lowercase, ascii_uppercase

__all__ = ["ASCII_LOWER", "CHANNEL_PREFIXES", "RFC1459_SPECIALS", "channel_key"]

#: the channel prefixes RFC 2812 defines (the CHANTYPES a server announces is a subset)
CHANNEL_PREFIXES = "#&+!"

#: ASCII-only lower-casing (``ascii`` casemapping; also what SQLite's lower() does)
ASCII_LOWER: dict[int, int] = str.maketrans(ascii_uppercase, ascii_lowercase)

#: RFC 1459 casemapping, the IRC default: ``[]\\~`` are the upper case of ``{}|^``
#: (a translation table, to combine with a letter folding)
RFC1459_SPECIALS: dict[int, int] = str.maketrans("[]\\~", "{}|^")


def channel_key(name: str) -> str:
    """A channel name folded for lookups: lower case, then the RFC 1459 specials.

    This is what ``channels.name_key`` stores and what search compares against.
    """
    return name.lower().translate(RFC1459_SPECIALS)
