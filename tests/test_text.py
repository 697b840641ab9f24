"""The one rule for characters people must not get raw (logbot.text)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from logbot import text
from logbot.text import json_escaped, visible


def test_every_escaped_character_fails_the_printable_fast_path() -> None:
    """visible() skips text that isprintable(): that must never skip a character it escapes."""
    assert not any(chr(c).isprintable() for c in text._VISIBLE)


@given(st.text())
def test_visible_keeps_offsets_and_leaves_nothing_to_escape(value: str) -> None:
    """One character for one (highlight offsets stay valid), and the result is final."""
    shown = visible(value)
    assert len(shown) == len(value)
    assert visible(shown) == shown
    assert not any(ord(c) in text._VISIBLE for c in shown)


@given(st.text())
def test_json_escaping_is_lossless(value: str) -> None:
    """What JSON carries is unchanged; only its spelling avoids raw controls and invisibles."""
    line = json_escaped(json.dumps({"text": value}, ensure_ascii=False))
    assert json.loads(line) == {"text": value}
    assert not any(ord(c) in text._VISIBLE for c in line)
