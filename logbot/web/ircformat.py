"""IRC text to safe HTML: formatting codes as spans, URLs as links, nick colours.

Every character of IRC text is escaped; the only markup in the output is what this module
writes itself (``<b>``-like spans with fixed classes and ``<a>`` with an http(s) href).
Formatting codes are rendered (bold, italic, underline, strike, monospace, reverse, the
16 standard colours) or dropped (colours above 15, hex colours); other control
characters are shown as visible symbols, and bidi overrides and isolates are shown as
marks instead of being obeyed, so a line cannot reorder the text around it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator

from markupsafe import Markup, escape

from logbot.text import visible

__all__ = ["NICK_COLOURS", "esc", "irc_html", "irc_html_str", "nick_colour", "strip_codes"]

#: how many nick colour classes the stylesheet has (``n0`` .. ``n15``)
NICK_COLOURS = 16

_BOLD, _COLOR, _HEX, _RESET = "\x02", "\x03", "\x04", "\x0f"
_MONO, _REVERSE, _ITALIC, _STRIKE, _UNDERLINE = "\x11", "\x16", "\x1d", "\x1e", "\x1f"
_TOGGLES = {_BOLD: "b", _MONO: "m", _REVERSE: "r", _ITALIC: "i", _STRIKE: "s", _UNDERLINE: "u"}

_CODE = re.compile(
    r"\x03(?:(\d{1,2})(?:,(\d{1,2}))?)?"
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
# bidi embeddings, overrides and isolates: shown, never obeyed
_BIDI = {
    0x202A: "LRE",
    0x202B: "RLE",
    0x202C: "PDF",
    0x202D: "LRO",
    0x202E: "RLO",
    0x2066: "LRI",
    0x2067: "RLI",
    0x2068: "FSI",
    0x2069: "PDI",
}
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'\x00-\x1f]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>'\""


# anything that needs more than plain escaping: codes, controls, bidi marks, a URL
_SPECIAL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]|://|www\.", re.IGNORECASE
)


def esc(text: str) -> str:
    """``text`` escaped for HTML text and attribute values (as Jinja2's autoescape does)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&#34;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    return text


def strip_codes(text: str) -> str:
    """``text`` without IRC formatting codes."""
    return _CODE.sub("", text)


def nick_colour(nick: str) -> int:
    """A stable colour class number for ``nick`` (case does not matter)."""
    return zlib.crc32(nick.lower().encode("utf-8", "surrogatepass")) % NICK_COLOURS


def _plain(text: str) -> str:
    """Escaped text with control characters made visible and bidi controls named."""
    if _BIDI_RE.search(text) is None:
        return str(escape(visible(text)))
    # named here, before visible() would turn them into U+FFFD: a page can say which
    out: list[str] = []
    at = 0
    for m in _BIDI_RE.finditer(text):
        out.append(str(escape(visible(text[at : m.start()]))))
        out.append(f'<span class="ctl" title="bidi control">[{_BIDI[ord(m.group())]}]</span>')
        at = m.end()
    out.append(str(escape(visible(text[at:]))))
    return "".join(out)


def _urls(text: str) -> Iterator[re.Match[str]]:
    """``_URL.finditer(text)``, the pattern tried only where a URL can start: scanning
    every position of a line costs several times the matching (\\b before a letter
    still looks at the character before ``pos``)."""
    low = text.lower()
    if len(low) != len(text):
        # a character whose lower case is longer: positions in low are not text's
        yield from _URL.finditer(text)
        return
    starts: list[int] = []
    for mark in ("http", "www."):
        at = low.find(mark)
        while at >= 0:
            starts.append(at)
            at = low.find(mark, at + 1)
    end = 0
    for at in sorted(starts):
        if at >= end and (m := _URL.match(text, at)) is not None:
            yield m
            end = m.end()


def _linked(text: str, plain: Callable[[str], str] = _plain) -> str:
    """Escaped ``text`` with its http(s) URLs as links (``plain``: how the rest is
    escaped; :func:`esc` where ``text`` is printable, which :func:`_plain` leaves as is
    but for escaping)."""
    out: list[str] = []
    at = 0
    for m in _urls(text):
        url = m.group()
        while url and url[-1] in _TRAILING:
            # a closing bracket that opened inside the URL belongs to it (wikipedia links)
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if not url:
            continue
        start, end = m.start(), m.start() + len(url)
        out.append(plain(text[at:start]))
        href = url if "://" in url else "http://" + url
        # an attribute: bidi controls replaced (visible()), never named in a span
        out.append(f'<a href="{esc(visible(href))}" rel="nofollow ugc noopener">{plain(url)}</a>')
        at = end
    out.append(plain(text[at:]))
    return "".join(out)


def irc_html(text: str) -> Markup:
    """IRC message text as HTML: formatting rendered or dropped, URLs linked, all escaped."""
    return Markup(irc_html_str(text))


def irc_html_str(text: str) -> str:
    """:func:`irc_html` as a plain ``str`` (for callers that build HTML by hand)."""
    # every control, formatting code, bidi and separator character _SPECIAL looks for is
    # unprintable: a printable line needs escaping only, and its URLs linked where it
    # has a URL's marks (a quarter of the regular expression's time on a day page's
    # lines; a third of the full rendering's on a line with a URL)
    if text.isprintable():
        if "://" not in text and ("." not in text or "www." not in text.lower()):
            return esc(text)
        return _linked(text, esc)
    if _SPECIAL.search(text) is None:
        return esc(text)
    return _formatted(text)


def _formatted(text: str) -> str:
    if not _CODE.search(text):
        return _linked(text)
    out: list[str] = []
    on: set[str] = set()
    fg: int | None = None
    bg: int | None = None
    at = 0

    def flush(chunk: str) -> None:
        if not chunk:
            return
        classes = sorted(on)
        if fg is not None and fg < 16:
            classes.append(f"f{fg}")
        if bg is not None and bg < 16:
            classes.append(f"g{bg}")
        body = _linked(chunk)
        out.append(f'<span class="{" ".join(classes)}">{body}</span>' if classes else body)

    for m in _CODE.finditer(text):
        flush(text[at : m.start()])
        at = m.end()
        code = m.group()
        c = code[0]
        if c in _TOGGLES:
            on ^= {_TOGGLES[c]}
        elif c == _RESET:
            on.clear()
            fg = bg = None
        elif c == _COLOR:
            if m.group(1) is None:
                fg = bg = None
            else:
                fg = int(m.group(1))
                if m.group(2) is not None:
                    bg = int(m.group(2))
        # \x04 hex colours: dropped
    flush(text[at:])
    return "".join(out)
