"""IRC text to HTML: codes rendered or dropped, URLs linked, nothing else ever markup."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from logbot.web.ircformat import irc_html, irc_html_str, nick_colour, strip_codes

# the only markup irc_html writes itself
_OWN = re.compile(
    r'<span class="[a-z0-9 ]*"(?: title="bidi control")?>|</span>'
    r'|<a href="[^"<>]*" rel="nofollow ugc noopener">|</a>'
)


@given(
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("<>&\"'\x02\x03\x0f\u202e:/.w"))
)
def test_no_text_becomes_markup(text: str) -> None:
    out = _OWN.sub("", irc_html_str(text))
    assert "<" not in out
    assert ">" not in out
    assert '"' not in out
    assert "\u202e" not in out


def test_formatting_codes_are_rendered_or_dropped() -> None:
    assert str(irc_html("\x02b\x02 \x1di\x1d \x1fu")) == (
        '<span class="b">b</span> <span class="i">i</span> <span class="u">u</span>'
    )
    assert str(irc_html("\x0304,01red on black\x03 plain")) == (
        '<span class="f4 g1">red on black</span> plain'
    )
    # colours above 15 and hex colours are dropped, their text kept
    assert str(irc_html("\x0399x\x04ff0000y\x0fz")) == "xyz"
    assert strip_codes("\x02a\x0312,3b\x0f") == "ab"


def test_urls_become_links_without_their_trailing_punctuation() -> None:
    assert str(irc_html("see www.example.org/x, ok")) == (
        'see <a href="http://www.example.org/x" rel="nofollow ugc noopener">'
        "www.example.org/x</a>, ok"
    )
    assert "href" not in str(irc_html("javascript:alert(1)"))


def test_nick_colours_are_stable_and_ignore_case() -> None:
    assert nick_colour("Alice") == nick_colour("alice")
    assert 0 <= nick_colour("bob") < 16


@given(
    st.lists(
        st.characters(codec="utf-8")
        | st.sampled_from("<>&\"'\x02\x03\x1f\u00a0\u2028\u202e\u2066:/.wW")
        | st.sampled_from(["://", "www.", "WwW.", "http://x.org"])
    ).map("".join)
)
def test_a_line_on_the_plain_fast_path_reads_as_the_full_rendering_gives_it(text: str) -> None:
    from logbot.web.ircformat import _SPECIAL, _formatted, esc

    full = esc(text) if _SPECIAL.search(text) is None else _formatted(text)
    assert irc_html_str(text) == full
