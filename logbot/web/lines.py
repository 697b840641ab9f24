"""A day's events as HTML list items and as text-log lines: the body of a day page."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo

from markupsafe import Markup

from logbot.events import CHANNEL_KINDS, Kind
from logbot.render import Record, record_time, text_line
from logbot.storage.gaps import Gap
from logbot.storage.names import KEY_SPREAD, time_key
from logbot.text import visible
from logbot.web.ircformat import esc, irc_html_str, nick_colour

__all__ = ["NOISE_KINDS", "SHOWN_KINDS", "gap_line", "lines_html", "log_line", "render_lines"]

#: kinds the "hide joins/parts" toggle hides
NOISE_KINDS = frozenset({"join", "part", "quit", "nick"})
#: what a day shows with them hidden
SHOWN_KINDS = tuple(k.value for k in Kind if k in CHANNEL_KINDS and k.value not in NOISE_KINDS)


def _kind_text(rec: Record, nick: str, text: str, chan: str) -> str:
    """What happened, as HTML after the nick (``nick``, ``text``, ``chan``: already HTML)."""
    k = rec.kind
    who = f'{nick} <span class="uh">({esc(visible(rec.userhost))})</span>' if rec.userhost else nick
    reason = f" ({text})" if rec.text else ""
    if k == "join":
        return f"{who} has joined {chan}"
    if k == "part":
        return f"{who} has left {chan}{reason}"
    if k == "quit":
        return f"{who} has quit{reason}"
    target = esc(visible(rec.target))
    if k == "kick":
        return f"{nick} has kicked {target} from {chan}{reason}"
    if k == "nick":
        return f"{nick} is now known as {target}"
    if k == "topic":
        if not rec.text:
            return f"{nick or 'the server'} cleared the topic"
        if not rec.nick:
            return f"the topic is: {text}"
        return f"{nick} changed the topic to: {text}"
    if k == "mode":
        return f"{nick or 'the server'} sets mode {text}"
    return f"[{esc(k)}] {nick} {text}"


_PREFIX = {"join": "--&gt;", "part": "&lt;--", "quit": "&lt;--", "kick": "&lt;--"}


def _clock(tz: tzinfo, records: Sequence[Record]) -> tuple[Callable[[int], str], int, int]:
    """``HH:MM:SS`` in ``tz`` of an event id, as ``(clock, spread, shift)``: when the
    offset is fixed over the records (every day but the two DST changes) ``spread`` > 0
    and the time is ``_clock_table()[(key // spread + shift) % 86_400]`` (done in the
    caller's loop: a call a line costs more than the lookup); else ``clock(key)``."""
    if not records:
        return (lambda key: ""), 0, 0
    first = record_time(records[0].id)
    last = record_time(records[-1].id)
    offset = first.astimezone(tz).utcoffset()
    if offset is None or offset != last.astimezone(tz).utcoffset():
        return (lambda key: record_time(key).astimezone(tz).strftime("%H:%M:%S")), 0, 0
    shift = int(offset.total_seconds())
    spread = KEY_SPREAD * 1_000_000
    table = _clock_table()
    return (lambda key: table[(key // spread + shift) % 86_400]), spread, shift


@functools.cache
def _clock_table() -> tuple[str, ...]:
    """``HH:MM:SS`` of every second of a day (a lookup is cheaper than formatting a line's)."""
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))


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
    """The ``<li>`` of each event, oldest first: permalink time, prefix, nick, text; each of
    ``gaps`` (oldest first) before the first event at or after its start (``day``: the
    page's day, whose date its times leave out).

    Nick colours follow a nick across its changes within these lines. Built with plain
    string formatting (a busy day has thousands of lines); every IRC string goes through
    :func:`esc` or :func:`irc_html`.
    """
    holes = [(time_key(g.start), gap_line(g, tz, day)) for g in gaps]
    holes.reverse()  # popped from the end, oldest first
    # one integer comparison per line: the next hole's place
    hole_at = holes[-1][0] if holes else -1
    alias: dict[str, int] = {}
    shown: dict[str, str] = {}  # nick -> its HTML under its current colour
    # nick -> what follows the time of that nick's message up to its text (most lines)
    said: dict[str, str] = {}
    clock, spread, shift = _clock(tz, records)
    table = _clock_table()
    chan_html = esc(visible(chan))
    out: list[str] = []
    add = out.append
    for rec in records:
        # one unpacking instead of an attribute read a field (Record's fields in order)
        eid, _, _, kind, nick, raw, _, _, _ = rec
        if 0 <= hole_at <= eid:
            while holes and holes[-1][0] <= eid:
                add(holes.pop()[1])
            hole_at = holes[-1][0] if holes else -1
        stamp = table[(eid // spread + shift) % 86_400] if spread else clock(eid)
        if kind == "message":
            head = said.get(nick)
            if head is not None:
                text = irc_html_str(raw) if raw else ""
                add(
                    f'<li id="e{eid}" class="ev k-message"><a class="t" href="#e{eid}" '
                    f'rel="nofollow">{stamp}{head}{text}</bdi></li>\n'
                )
                continue
        nick_html = shown.get(nick)
        if nick_html is None or kind == "nick":
            key = nick.lower()
            colour = alias.get(key)
            if colour is None:
                colour = alias[key] = nick_colour(nick)
            if kind == "nick" and rec.target:
                alias[rec.target.lower()] = colour
                shown.pop(rec.target, None)
                said.pop(rec.target, None)
            nick_html = shown[nick] = f'<span class="nick n{colour}">{esc(visible(nick))}</span>'
            said.pop(nick, None)
        text = irc_html_str(raw) if raw else ""
        if kind == "message":
            prefix, body = f"&lt;{nick_html}&gt;", text
            said[nick] = f'</a> <span class="p">{prefix}</span> <bdi class="msg">'
        elif kind == "action":
            prefix, body = "*", f"{nick_html} {text}"
        elif kind == "notice":
            prefix, body = f"-{nick_html}-", text
        else:
            prefix = _PREFIX.get(kind, "--")
            body = _kind_text(rec, nick_html, text, chan_html)
        add(
            f'<li id="e{eid}" class="ev k-{esc(kind)}"><a class="t" href="#e{eid}" '
            f'rel="nofollow">{stamp}</a> <span class="p">{prefix}</span> '
            f'<bdi class="msg">{body}</bdi></li>\n'
        )
    out.extend(line for _, line in reversed(holes))
    # a str: Markup and str() of it would each copy a page's lines once more
    return "".join(out)


def log_line(rec: Record, tz: tzinfo) -> str:
    """``rec`` in the text log's format (``[20:35:22] <alice> hello``), in zone ``tz``."""
    # text_line is "YYYY-MM-DD HH:MM:SS CHANNEL BODY", the channel made visible char for char
    line = text_line(rec, tz=tz)
    return f"[{line[11:19]}] {line[21 + len(rec.channel) :]}"
