"""Text as people read it: one rule for the characters that must not reach them raw.

Used by every output a person reads (the text log, ``logbot search``'s text and CSV lines,
the service's own log lines), so a message can neither split a line, nor drive a
terminal, nor read other than it is, whichever way it is read; JSON lines escape the same
characters losslessly (:func:`json_escaped`). No imports beyond the standard library.
"""

from __future__ import annotations

import re

__all__ = ["json_escaped", "visible"]

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
# Invisible format characters that reorder or hide text: the bidi embeddings, overrides
# and isolates (U+202A-U+202E, U+2066-U+2069; "Trojan Source": a line that reads other
# than it is), the marks LRM, RLM and ALM, zero-width space, word joiner, invisible
# operators, the BOM, soft hyphen, the deprecated format controls and interlinear
# annotation marks. They become U+FFFD too. Not ZWNJ and ZWJ (U+200C, U+200D): scripts
# and emoji sequences need them, and they neither reorder nor hide anything.
_INVISIBLE = (
    0x00AD,
    0x061C,
    0x180E,
    0x200B,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2065),
    *range(0x2066, 0x2070),
    0xFEFF,
    *range(0xFFF9, 0xFFFC),
)
for _c in _INVISIBLE:
    _VISIBLE[_c] = "\ufffd"
_NEEDS_ESCAPE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_VISIBLE)) + "]")
# what JSON leaves raw of those (it escapes C0 itself): DEL, C1, line breaks, invisibles
_JSON_RAW = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(_VISIBLE) if c >= 0x20) + "]"
)


def visible(text: str) -> str:
    """``text`` with every line-breaking, terminal-controlling, reordering or invisible
    character made visible.

    Each character maps to exactly one, so offsets into ``text`` stay valid.
    """
    # isprintable() is a fast C scan that is False for every character escaped here (and
    # for some that are kept); only then is the slower exact search needed
    if text.isprintable() or _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_VISIBLE)


def json_escaped(encoded: str) -> str:
    """JSON text (as ``json`` encodes it with ``ensure_ascii=False``) with the characters
    :func:`visible` would replace written as ``\\uXXXX`` escapes: the same value for
    every JSON reader, nothing raw for a terminal."""
    if encoded.isprintable():
        return encoded
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
