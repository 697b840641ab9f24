"""A day's events as HTML list items and as text-log lines: the body of a day page."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo

from markupsafe import Markup

from logbot.events import CHANNEL_KINDS, Kind
from logbot.render import Record, record_time, text_line
from logbot.storage.browse import EventRow
from logbot.storage.gaps import Gap
from logbot.storage.names import KEY_SPREAD, time_key
from logbot.text import visible
from logbot.web.ircformat import esc, irc_html_str, nick_colour

__all__ = [
    "NOISE_KINDS",
    "SHOWN_KINDS",
    "gap_line",
    "lines_html",
    "log_line",
    "render_lines",
    "rows_html",
]


#: kinds the "hide joins/parts" toggle hides
NOISE_KINDS = frozenset({"join", "part", "quit", "nick"})
#: what a day shows with them hidden
SHOWN_KINDS = tuple(k.value for k in Kind if k in CHANNEL_KINDS and k.value not in NOISE_KINDS)


def _kind_text(row: EventRow, nick: str, text: str, chan: str) -> str:
    """What happened, as HTML after the nick (``nick``, ``text``, ``chan``: already HTML)."""
    _, _, k, who_nick, raw, raw_target, userhost = row
    who = f'{nick} <span class="uh">({esc(visible(userhost))})</span>' if userhost else nick
    reason = f" ({text})" if raw else ""
    if k == "join":
        return f"{who} has joined {chan}"
    if k == "part":
        return f"{who} has left {chan}{reason}"
    if k == "quit":
        return f"{who} has quit{reason}"
    target = esc(visible(raw_target or ""))
    if k == "kick":
        return f"{nick} has kicked {target} from {chan}{reason}"
    if k == "nick":
        return f"{nick} is now known as {target}"
    if k == "topic":
        if not raw:
            return f"{nick or 'the server'} cleared the topic"
        if not who_nick:
            return f"the topic is: {text}"
        return f"{nick} changed the topic to: {text}"
    if k == "mode":
        return f"{nick or 'the server'} sets mode {text}"
    return f"[{esc(k)}] {nick} {text}"


_PREFIX = {"join": "--&gt;", "part": "&lt;--", "quit": "&lt;--", "kick": "&lt;--"}


def _clock(tz: tzinfo, first: int, last: int) -> tuple[Callable[[int], str], int, int]:
    """``HH:MM:SS`` in ``tz`` of an event id, as ``(clock, spread, shift)``: when the
    offset is fixed from event ``first`` to ``last`` (every day but the two DST changes)
    ``spread`` > 0 and the time is :func:`_stamp` of ``(key // spread + shift) % 86_400``
    (done in the caller's loop: a call a line costs more than the lookups); else
    ``clock(key)``."""
    if isinstance(tz, timezone):
        # a fixed offset (UTC, as logbot html writes): no time needs converting
        return _fixed_clock(tz)
    offset = record_time(first).astimezone(tz).utcoffset()
    if offset is None or offset != record_time(last).astimezone(tz).utcoffset():
        return (lambda key: record_time(key).astimezone(tz).strftime("%H:%M:%S")), 0, 0
    return _offset_clock(offset)


@functools.lru_cache(maxsize=64)
def _fixed_clock(tz: timezone) -> tuple[Callable[[int], str], int, int]:
    return _offset_clock(tz.utcoffset(None))


def _offset_clock(offset: timedelta) -> tuple[Callable[[int], str], int, int]:
    shift = int(offset.total_seconds())
    spread = KEY_SPREAD * 1_000_000
    return (lambda key: _stamp((key // spread + shift) % 86_400)), spread, shift


#: ``HH:MM:`` of every minute of a day, and ``SS`` of every second of a minute: a line's
#: time is one of each (cheaper than formatting it; and two small tables stay in the
#: CPU's cache where one of every second of a day, 5 MB of strings, costs a miss a line)
_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))
_SECONDS = tuple(f"{s:02d}" for s in range(60))


def _stamp(second: int) -> str:
    """``HH:MM:SS`` of a second of a day."""
    return _MINUTES[second // 60] + _SECONDS[second % 60]


def gap_text(gap: Gap, tz: tzinfo, day: date | None) -> str:
    """``not logged from 12:00:00 to 12:05:00 (disconnected)`` in zone ``tz``; a time not
    on ``day`` carries its date; an open gap is ``not logged since ...``."""

    def when(moment: datetime) -> str:
        local = moment.astimezone(tz)
        return f"{local:%H:%M:%S}" if local.date() == day else f"{local:%Y-%m-%d %H:%M:%S}"

    span = f"since {when(gap.start)}" if gap.end is None else (
        f"from {when(gap.start)} to {when(gap.end)}"
    )  # fmt: skip
    return f"not logged {span} ({gap.reason})"


def gap_line(gap: Gap, tz: tzinfo, day: date | None) -> str:
    """The ``<li>`` saying where the record has a hole (see :func:`gap_text`)."""
    return f'<li class="gap">{esc(visible(gap_text(gap, tz, day)))}</li>\n'


def render_lines(
    records: Sequence[Record],
    tz: tzinfo,
    chan: str,
    gaps: Sequence[Gap] = (),
    day: date | None = None,
) -> Markup:
    """:func:`lines_html` as Markup, for the templates."""
    return Markup(lines_html(records, tz, chan, gaps, day))


def lines_html(
    records: Sequence[Record],
    tz: tzinfo,
    chan: str,
    gaps: Sequence[Gap] = (),
    day: date | None = None,
) -> str:
    """:func:`rows_html` of Records (their network where a row's channel id is: unused)."""
    return rows_html(list(map(_ROW, records)), tz, chan, gaps, day)


#: a Record's fields in an EventRow's order
_ROW = operator.itemgetter(0, 1, 3, 4, 5, 6, 7)


def rows_html(
    rows: Sequence[EventRow],
    tz: tzinfo,
    chan: str,
    gaps: Sequence[Gap] = (),
    day: date | None = None,
) -> str:
    """The ``<li>`` of each event, oldest first: permalink time, prefix, nick, text; each of
    ``gaps`` (oldest first) before the first event at or after its start (``day``: the
    page's day, whose date its times leave out).

    Nick colours follow a nick across its changes within these lines. Built with plain
    string formatting (a busy day has thousands of lines); every IRC string goes through
    :func:`esc` or :func:`irc_html_str`.
    """
    holes = [(time_key(g.start), gap_line(g, tz, day)) for g in gaps]
    holes.reverse()  # popped from the end, oldest first
    # one integer comparison per line: the next hole's place
    hole_at = holes[-1][0] if holes else -1
    # lower-case nick -> the colour a nick change gave it (others have their own)
    renamed: dict[str, int] = {}
    shown: dict[str, str] = {}  # nick -> its HTML under its current colour
    # nick -> what follows the time of that nick's message up to its text (most lines)
    said: dict[str, str] = {}
    if rows:
        clock, spread, shift = _clock(tz, rows[0][0], rows[-1][0])
    else:
        clock, spread, shift = str, 0, 0
    minutes, seconds = _MINUTES, _SECONDS
    chan_html = esc(visible(chan))
    htmls = _texts_html(rows)
    out: list[str] = []
    add = out.append
    for row, text in zip(rows, htmls, strict=True):
        eid, _, kind, nick, _, target, _ = row
        if 0 <= hole_at <= eid:
            while holes and holes[-1][0] <= eid:
                add(holes.pop()[1])
            hole_at = holes[-1][0] if holes else -1
        if spread:
            second = (eid // spread + shift) % 86_400
            stamp = minutes[second // 60] + seconds[second % 60]
        else:
            stamp = clock(eid)
        if kind == "message":
            head = said.get(nick)
            if head is None:
                nick_html = shown.get(nick)
                if nick_html is None and not (renamed and nick.lower() in renamed):
                    # the nick in its own colour, as on other days (most first lines)
                    own = _OWN.get(nick) or _own(nick)
                    shown[nick], head = own
                    said[nick] = head
                else:
                    if nick_html is None:
                        nick_html = shown[nick] = _coloured(nick, renamed[nick.lower()])
                    head = said[nick] = _said(nick_html)
            add(
                f'<li id="e{eid}" class="ev k-message"><a class="t" href="#e{eid}" '
                f'rel="nofollow">{stamp}{head}{text}</bdi></li>\n'
            )
            continue
        nick_html = shown.get(nick)
        if nick_html is None or kind == "nick":
            colour = renamed.get(nick.lower()) if renamed else None
            if colour is None:
                nick_html = (_OWN.get(nick) or _own(nick))[0]
            else:
                nick_html = _coloured(nick, colour)
            if kind == "nick" and target:
                renamed[target.lower()] = nick_colour(nick) if colour is None else colour
                shown.pop(target, None)
                said.pop(target, None)
            shown[nick] = nick_html
            said.pop(nick, None)
        if kind == "action":
            prefix, body = "*", f"{nick_html} {text}"
        elif kind == "notice":
            prefix, body = f"-{nick_html}-", text
        else:
            prefix = _PREFIX.get(kind, "--")
            body = _kind_text(row, nick_html, text, chan_html)
        add(
            f'<li id="e{eid}" class="ev k-{esc(kind)}"><a class="t" href="#e{eid}" '
            f'rel="nofollow">{stamp}</a> <span class="p">{prefix}</span> '
            f'<bdi class="msg">{body}</bdi></li>\n'
        )
    out.extend(line for _, line in reversed(holes))
    # a str: Markup and str() of it would each copy a page's lines once more
    return "".join(out)


def _texts_html(rows: Sequence[EventRow]) -> list[str]:
    """:func:`irc_html_str` of each row's text (a day's), the tests done over the day's
    text at once, in C: most texts need escaping alone (or nothing), and the few that may
    need more (an unprintable character, ``://``, ``www.``) are found by searching the
    day's text, not each line."""
    texts = [row[4] for row in rows]
    whole = "".join(texts)
    if "&" in whole or "<" in whole or ">" in whole or '"' in whole or "'" in whole:
        htmls = [esc(text) for text in texts]
    else:
        htmls = texts
    maybe: set[int] | range = set()
    if not whole.isprintable():
        maybe = {i for i, text in enumerate(texts) if not text.isprintable()}
    # "www." in any case holds a "w." or "W."
    if "://" in whole or "w." in whole or "W." in whole:
        joined = "\x00".join(texts)
        if joined.count("\x00") != len(texts) - 1:
            # a text holds a NUL: each text alone
            maybe = range(len(texts))
        else:
            # the text a mark is in: the NULs before it (a mark across two texts is
            # not found: a NUL is between), counted on from the mark before, so a day
            # is scanned once however many marks it holds (from the start each time,
            # a day of 100,000 links would take minutes)
            marks = []
            for mark in ("://", "w.", "W."):
                at = joined.find(mark)
                while at >= 0:
                    marks.append(at)
                    at = joined.find(mark, at + 1)
            marks.sort()
            text_no = counted = 0
            for at in marks:
                text_no += joined.count("\x00", counted, at)
                counted = at
                maybe.add(text_no)  # type: ignore[union-attr]
    for i in maybe:
        htmls[i] = irc_html_str(texts[i])
    return htmls


#: nick -> (its HTML in its own colour, what follows a message's time up to its text):
#: pages show the same nicks day after day
_OWN: dict[str, tuple[str, str]] = {}
#: how many nicks _OWN keeps (then it starts again)
_OWN_NICKS = 1 << 15


def _own(nick: str) -> tuple[str, str]:
    if len(_OWN) >= _OWN_NICKS:
        _OWN.clear()
    html = _coloured(nick, nick_colour(nick))
    own = _OWN[nick] = (html, _said(html))
    return own


def _coloured(nick: str, colour: int) -> str:
    return f'<span class="nick n{colour}">{esc(visible(nick))}</span>'


def _said(nick_html: str) -> str:
    """What follows the time of a message by ``nick_html`` up to its text."""
    return f'</a> <span class="p">&lt;{nick_html}&gt;</span> <bdi class="msg">'


def log_line(rec: Record, tz: tzinfo) -> str:
    """``rec`` in the text log's format (``[20:35:22] <alice> hello``), in zone ``tz``."""
    # text_line is "YYYY-MM-DD HH:MM:SS CHANNEL BODY", the channel made visible char for char
    line = text_line(rec, tz=tz)
    return f"[{line[11:19]}] {line[21 + len(rec.channel) :]}"
