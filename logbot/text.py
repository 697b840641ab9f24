"""Text as people read it: one rule for the characters that must not reach them raw.

Used by every output a person reads (the text log, ``logbot search``'s text lines, the
service's own log lines), so a message can neither split a line nor drive a terminal
whichever way it is read. No imports beyond the standard library.
"""

from __future__ import annotations

import re

__all__ = ["visible"]

# IRC formatting codes stay as they are (bold, colour, hex colour, reset, monospace, reverse,
# italic, strikethrough, underline): they carry meaning and break no line. Every other C0
# control and DEL become visible symbols (U+2400 Control Pictures), the Unicode line breaks
# become ␤, and the C1 controls (U+0080-U+009F; CSI, U+009B, is obeyed by some terminals
# like ESC [) become U+FFFD.
_KEPT = frozenset("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f")
_VISIBLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if chr(c) not in _KEPT}
_VISIBLE[0x7F] = "\u2421"  # ␡
for _c in (0x85, 0x2028, 0x2029):
    _VISIBLE[_c] = "\u2424"  # ␤: NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR
for _c in range(0x80, 0xA0):
    _VISIBLE.setdefault(_c, "\ufffd")
_NEEDS_ESCAPE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_VISIBLE)) + "]")


def visible(text: str) -> str:
    """``text`` with every line-breaking or terminal-controlling character made visible.

    Each character maps to exactly one, so offsets into ``text`` stay valid.
    """
    # isprintable() is a fast C scan that is False for every character escaped here (and
    # for some that are kept); only then is the slower exact search needed
    if text.isprintable() or _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_VISIBLE)
