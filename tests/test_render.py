"""Search output formats: golden lines for text, json and csv."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from logbot.query import highlight_spans, parse
from logbot.render import Record, csv_header, csv_line, json_line, text_line
from logbot.storage import schema

BERLIN = ZoneInfo("Europe/Berlin")
WHEN = datetime(2026, 11, 28, 19, 35, 22, 123456, tzinfo=UTC)
KEY = schema.time_key(WHEN, 7)


def rec(kind: str, nick: str = "alice", text: str = "", target: str = "") -> Record:
    return Record(KEY, "libera", "#x", kind, nick, text, target)


@pytest.mark.parametrize(
    ("record", "line"),
    [
        (rec("message", text="hello world"), "2026-11-28 20:35:22 #x <alice> hello world"),
        (rec("action", text="waves"), "2026-11-28 20:35:22 #x * alice waves"),
        (rec("notice", text="ping"), "2026-11-28 20:35:22 #x -alice- ping"),
        (rec("join"), "2026-11-28 20:35:22 #x --> alice has joined #x"),
        (rec("part"), "2026-11-28 20:35:22 #x <-- alice has left #x"),
        (rec("part", text="bye"), "2026-11-28 20:35:22 #x <-- alice has left #x (bye)"),
        (
            rec("quit", text="Ping timeout"),
            "2026-11-28 20:35:22 #x <-- alice has quit (Ping timeout)",
        ),
        (rec("quit"), "2026-11-28 20:35:22 #x <-- alice has quit"),
        (
            rec("kick", target="bob", text="spam"),
            "2026-11-28 20:35:22 #x <-- alice has kicked bob from #x (spam)",
        ),
        (rec("nick", target="alice2"), "2026-11-28 20:35:22 #x alice is now known as alice2"),
        (
            rec("topic", text="release friday"),
            "2026-11-28 20:35:22 #x -- alice changed the topic of #x to: release friday",
        ),
        (
            rec("topic", nick="", text="old topic"),
            "2026-11-28 20:35:22 #x -- the topic of #x is: old topic",
        ),
        (rec("topic"), "2026-11-28 20:35:22 #x -- alice cleared the topic of #x"),
        (rec("mode", text="+o bob"), "2026-11-28 20:35:22 #x -- alice sets mode #x +o bob"),
        (rec("mode", nick="", text="+nt"), "2026-11-28 20:35:22 #x -- the server sets mode #x +nt"),
        (rec("wallops", text="hi"), "2026-11-28 20:35:22 #x [wallops] alice hi"),
    ],
)
def test_text_line_golden(record: Record, line: str) -> None:
    """Each kind renders as one readable line in local time."""
    assert text_line(record, tz=BERLIN) == line


def test_text_line_makes_control_characters_visible() -> None:
    """Line breaks and escape sequences in stored text cannot split a line or drive a terminal."""
    r = rec("message", nick="ev\x1bil", text="a\nb\r\x1b[2Jc\x9b\u2028d \x02bold\x02")
    line = text_line(r, tz=BERLIN)
    assert (
        line
        == "2026-11-28 20:35:22 #x <ev\u241bil> a\u240ab\u240d\u241b[2Jc\ufffd\u2424d \x02bold\x02"
    )
    assert "\n" not in line
    assert "\x1b" not in line


# "Trojan Source": RLO and isolates make a line read other than it is
TROJAN = "ok \u202eevil\u202c \u2066x\u2069 zero\u200bwidth \ufeff"
TROJAN_SHOWN = "ok \ufffdevil\ufffd \ufffdx\ufffd zero\ufffdwidth \ufffd"


def test_text_line_shows_bidi_overrides_and_invisible_characters() -> None:
    """Bidi overrides, isolates and zero-width characters are shown, not obeyed."""
    assert text_line(rec("message", text=TROJAN), tz=BERLIN) == (
        f"2026-11-28 20:35:22 #x <alice> {TROJAN_SHOWN}"
    )


def test_text_line_keeps_joiners_that_scripts_and_emoji_need() -> None:
    """ZWJ and ZWNJ neither reorder nor hide: a family emoji or Persian text stays as written."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    text = f"{family} \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert text_line(rec("message", text=text), tz=BERLIN).endswith(f"<alice> {text}")


def test_json_line_escapes_what_text_shows_and_stays_lossless() -> None:
    """C1 controls, line separators and bidi overrides are \\u escapes in JSON: nothing raw
    reaches a terminal, and the value decodes back exactly."""
    text = "csi\x9b2J del\x7f ls\u2028 " + TROJAN
    line = json_line(rec("message", text=text))
    assert json.loads(line)["text"] == text
    assert not any(0x7F <= ord(c) <= 0x9F or 0x2028 <= ord(c) <= 0x206F for c in line)
    assert "\\u202e" in line
    assert "\\u009b" in line


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1 cmd|' /C calc'!A0", "'+1 cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tdata", "\u2409data"),  # a tab is made visible, which defuses it too
        ("a = b", "a = b"),
        ("plain", "plain"),
    ],
)
def test_csv_cells_never_start_a_formula(text: str, cell: str) -> None:
    """A cell a spreadsheet would evaluate starts with ' (CSV injection)."""
    fields = next(csv.reader([csv_line(rec("message", nick="=cmd", text=text))]))
    assert fields[3:6] == ["'=cmd", "message", cell]


def test_csv_makes_controls_and_invisible_characters_visible() -> None:
    """ESC and OSC sequences, C1 controls and bidi overrides in CSV are shown, not obeyed."""
    line = csv_line(rec("message", text="\x1b]0;pwned\x07 \x1b[2J\x9b" + TROJAN))
    assert line.endswith(f",\u241b]0;pwned\u2407 \u241b[2J\ufffd{TROJAN_SHOWN},,")
    assert line.isprintable()


def test_text_line_highlights_matches_only_with_color() -> None:
    """With color the matched words are wrapped in escape codes; without, the line is plain."""
    q = parse('deplo* "new york"')
    assert q is not None

    def hl(text: str) -> list[tuple[int, int]]:
        return highlight_spans(q, text)

    r = rec("message", text="Deployed in New York\n today")
    assert text_line(r, tz=BERLIN, highlight=hl, color=True) == (
        "2026-11-28 20:35:22 #x <alice> \x1b[1;31mDeployed\x1b[0m in "
        "\x1b[1;31mNew York\x1b[0m\u240a today"
    )
    assert text_line(r, tz=BERLIN, highlight=hl, color=False) == (
        "2026-11-28 20:35:22 #x <alice> Deployed in New York\u240a today"
    )


def test_text_line_uses_the_local_date_across_midnight() -> None:
    """A time shortly before midnight UTC is already the next day in Tokyo."""
    r = Record(
        schema.time_key(datetime(2026, 1, 1, 23, 30, tzinfo=UTC)), "n", "#x", "message", "a", "t"
    )
    assert (
        text_line(r, tz=ZoneInfo("Asia/Tokyo")) == "2026-01-02 08:30:22"[:11] + "08:30:00 #x <a> t"
    )


def test_json_line_golden() -> None:
    """JSON lines carry the contract's keys in order, UTC time with microseconds, raw text."""
    assert json_line(rec("message", text='héllo "q"\n')) == (
        '{"time": "2026-11-28T19:35:22.123456+00:00", "network": "libera", "channel": "#x", '
        '"nick": "alice", "kind": "message", "text": "héllo \\"q\\"\\n"}'
    )


def test_json_line_adds_target_for_kick_and_nick_only() -> None:
    """The kicked nick and the new nick travel as "target"; other kinds never carry it."""
    kick = json.loads(json_line(rec("kick", target="bob", text="spam")))
    assert kick["target"] == "bob"
    nick = json.loads(json_line(rec("nick", target="alice2")))
    assert nick["target"] == "alice2"
    msg = json.loads(json_line(rec("message", text="x", target="ignored")))
    assert "target" not in msg
    assert list(msg) == ["time", "network", "channel", "nick", "kind", "text"]


def test_json_line_adds_userhost_when_known() -> None:
    """Who joined from where travels as "userhost", absent when the event has none."""
    join = Record(KEY, "libera", "#x", "join", "alice", "", "", "alice@example.org")
    assert json.loads(json_line(join))["userhost"] == "alice@example.org"
    assert "userhost" not in json.loads(json_line(rec("join")))


def test_text_line_shows_userhost_like_the_text_log() -> None:
    """Joins, parts and quits show the user@host in parentheses, as the text log does."""
    join = Record(KEY, "libera", "#x", "join", "alice", "", "", "a@h")
    quit_ = Record(KEY, "libera", "#x", "quit", "alice", "bye", "", "a@h")
    assert text_line(join, tz=BERLIN) == "2026-11-28 20:35:22 #x --> alice (a@h) has joined #x"
    assert text_line(quit_, tz=BERLIN) == "2026-11-28 20:35:22 #x <-- alice (a@h) has quit (bye)"


def test_json_line_marks_context_lines() -> None:
    """Lines added by --context say so; hits do not carry the key."""
    assert json.loads(json_line(rec("message", text="x"), context=True))["context"] is True
    assert "context" not in json.loads(json_line(rec("message", text="x")))


def test_json_time_zero_microseconds_keeps_fixed_width() -> None:
    """Times on a whole second still print six digits of microseconds."""
    r = Record(schema.time_key(datetime(2026, 1, 1, tzinfo=UTC)), "n", "#x", "join", "a", "")
    assert json.loads(json_line(r))["time"] == "2026-01-01T00:00:00.000000+00:00"


def test_csv_lines_golden() -> None:
    """CSV has a header and one line per event; text with commas is quoted, line breaks shown."""
    rows = [rec("message", text='a, "b"\nc'), rec("nick", target="alice2")]
    assert "".join(line + "\n" for line in [csv_header(), *map(csv_line, rows)]) == (
        "time,network,channel,nick,kind,text,target,userhost\n"
        '2026-11-28T19:35:22.123456+00:00,libera,#x,alice,message,"a, ""b""\u240ac",,\n'
        "2026-11-28T19:35:22.123456+00:00,libera,#x,alice,nick,,alice2,\n"
    )
