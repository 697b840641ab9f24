"""A day's lines: the fast renderer gives what the plain one-line-at-a-time rendering gives."""

from __future__ import annotations

import time
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from logbot.render import Record, record_time
from logbot.storage.gaps import Gap
from logbot.storage.names import time_key
from logbot.text import visible
from logbot.web.ircformat import _SPECIAL, _formatted, esc, nick_colour
from logbot.web.lines import gap_line, lines_html, rows_html

_PREFIX = {"join": "--&gt;", "part": "&lt;--", "quit": "&lt;--", "kick": "&lt;--"}


def _text_html(text: str) -> str:
    # the full rendering, no shortcut
    return esc(text) if _SPECIAL.search(text) is None else _formatted(text)


def _plainly(records: list[Record], tz: tzinfo, chan: str, gaps: list[Gap]) -> str:
    """The lines as the renderer before the fast one wrote them, a line at a time: the
    nick's colour looked up (and carried across a nick change) on every line."""
    day = record_time(records[0].id).astimezone(tz).date() if records else None
    holes = [(time_key(g.start), gap_line(g, tz, day)) for g in gaps]
    alias: dict[str, int] = {}
    shown: dict[str, str] = {}
    chan_html = esc(visible(chan))
    out = []
    for rec in records:
        while holes and holes[0][0] <= rec.id:
            out.append(holes.pop(0)[1])
        k, nick = rec.kind, rec.nick
        nick_html = shown.get(nick)
        if nick_html is None or k == "nick":
            colour = alias.setdefault(nick.lower(), nick_colour(nick))
            if k == "nick" and rec.target:
                alias[rec.target.lower()] = colour
                shown.pop(rec.target, None)
            nick_html = shown[nick] = f'<span class="nick n{colour}">{esc(visible(nick))}</span>'
        text = _text_html(rec.text)
        who = nick_html
        if rec.userhost:
            who = f'{nick_html} <span class="uh">({esc(visible(rec.userhost))})</span>'
        reason = f" ({text})" if rec.text else ""
        target = esc(visible(rec.target))
        prefix = _PREFIX.get(k, "--")
        if k == "message":
            prefix, body = f"&lt;{nick_html}&gt;", text
        elif k == "action":
            prefix, body = "*", f"{nick_html} {text}"
        elif k == "notice":
            prefix, body = f"-{nick_html}-", text
        elif k == "join":
            body = f"{who} has joined {chan_html}"
        elif k == "part":
            body = f"{who} has left {chan_html}{reason}"
        elif k == "quit":
            body = f"{who} has quit{reason}"
        elif k == "kick":
            body = f"{nick_html} has kicked {target} from {chan_html}{reason}"
        elif k == "nick":
            body = f"{nick_html} is now known as {target}"
        elif k == "topic" and not rec.text:
            body = f"{nick_html or 'the server'} cleared the topic"
        elif k == "topic":
            body = f"{nick_html} changed the topic to: {text}" if nick else f"the topic is: {text}"
        elif k == "mode":
            body = f"{nick_html or 'the server'} sets mode {text}"
        else:
            body = f"[{esc(k)}] {nick_html} {text}"
        stamp = record_time(rec.id).astimezone(tz).strftime("%H:%M:%S")
        out.append(
            f'<li id="e{rec.id}" class="ev k-{esc(k)}"><a class="t" href="#e{rec.id}" '
            f'rel="nofollow">{stamp}</a> <span class="p">{prefix}</span> '
            f'<bdi class="msg">{body}</bdi></li>\n'
        )
    out.extend(line for _, line in holes)
    return "".join(out)


_NICKS = st.sampled_from(["alice", "Alice", "bob", "BOB", "<b>m</b>", "", "é", "a\u202eb"])
_TEXTS = st.lists(
    st.characters(codec="utf-8")
    | st.sampled_from("<>&\"'\x00\x02\x03\x0f\x1f\u00a0\u2028\u202e\u2066:/.wW ")
    | st.sampled_from(["://", "www.", "WwW.x", "http://x.org/a_(b)", "HTTPS://y.z,", "0"]),
    max_size=12,
).map("".join)
_KINDS = st.sampled_from(
    ["message"] * 4
    + ["nick"] * 2
    + ["action", "notice", "join", "part", "quit", "kick", "topic", "mode", "odd<kind>"]
)
_EVENT = st.tuples(
    st.integers(0, 90_000), _KINDS, _NICKS, _TEXTS, _NICKS, st.sampled_from(["", "u@h"])
)
_START = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)  # Europe/Berlin changes its offset the 31st


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_EVENT, max_size=40),
    st.sampled_from([UTC, zoneinfo.ZoneInfo("Europe/Berlin")]),
    st.lists(st.tuples(st.integers(0, 90_000), st.integers(0, 600)), max_size=2),
)
def test_the_lines_are_what_a_line_at_a_time_gives(
    events: list[tuple[int, str, str, str, str, str]],
    tz: tzinfo,
    holes: list[tuple[int, int]],
) -> None:
    records = [
        Record(time_key(_START + timedelta(seconds=at), seq), "net", "#c", kind, nick, text,
               target, userhost)
        for seq, (at, kind, nick, text, target, userhost) in enumerate(sorted(events))
    ]  # fmt: skip
    gaps = [
        Gap("net", "#c", _START + timedelta(seconds=at), _START + timedelta(seconds=at + n), "off")
        for at, n in sorted(holes)
    ]
    expected = _plainly(records, tz, "#c", gaps)
    day = record_time(records[0].id).astimezone(tz).date() if records else None
    assert lines_html(records, tz, "#c", gaps, day) == expected
    # as logbot html reads them: plain tuples, NULL target and userhost where empty
    rows = [(r.id, 1, r.kind, r.nick, r.text, r.target or None, r.userhost or None)
            for r in records]  # fmt: skip
    assert rows_html(rows, tz, "#c", gaps, day) == expected


def test_a_day_of_links_on_every_line_renders_in_time_linear_in_its_lines() -> None:
    # each link used to be placed by counting the day's line breaks from the start: a day
    # of 50,000 link lines took 18 s of CPU, a page anyone can ask the server for
    rows = [
        (time_key(_START + timedelta(seconds=i // 10), i % 10), 1, "message", f"n{i % 50}",
         f"see https://example.org/{i} and www.example.net", None, None)
        for i in range(50_000)
    ]  # fmt: skip
    started = time.process_time()
    html = rows_html(rows, UTC, "#c")
    assert time.process_time() - started < 5.0
    assert html.count('href="https://example.org/') == 50_000
    assert html.count('href="http://www.example.net"') == 50_000
