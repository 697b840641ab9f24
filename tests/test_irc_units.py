"""The pure parts of the IRC side: wire parsing, tags, the roster, rate limits, CAP helpers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from logbot.irc.cap import join_lines, parse_caps, req_lines, sasl_plain_chunks
from logbot.irc.ratelimit import ReplyBudget, SenderLimiter, TokenBucket
from logbot.irc.roster import Roster, casefolder
from logbot.irc.wire import (
    nick_of,
    parse_server_time,
    plausible_server_time,
    split_message,
    tag_value,
    unescape_tag_value,
)

# -- wire ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PING :abc def", ("", "", "PING", ["abc def"])),
        (":n!u@h PRIVMSG #x :hi :there", ("", "n!u@h", "PRIVMSG", ["#x", "hi :there"])),
        (
            ":srv 005 me A=1 B :are supported",
            ("", "srv", "005", ["me", "A=1", "B", "are supported"]),
        ),
        ("@time=x;a :n!u@h JOIN #x", ("time=x;a", "n!u@h", "JOIN", ["#x"])),
        (":n!u@h privmsg #x :", ("", "n!u@h", "PRIVMSG", ["#x", ""])),
        (":srv  MODE   #x  +o   n", ("", "srv", "MODE", ["#x", "+o", "n"])),
    ],
)
def test_split_message(line: str, expected: tuple[str, str, str, list[str]]) -> None:
    """Lines split into tags, prefix, upper-cased command and params (trailing last)."""
    assert split_message(line) == expected


@pytest.mark.parametrize("line", ["", ":prefix", "@tags", ":p :trailing", "@t :p", "   "])
def test_split_message_rejects_lines_without_a_command(line: str) -> None:
    """A line with no command is a ValueError, never an IndexError."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by case
        split_message(line)


def test_tag_values_are_unescaped() -> None:
    """IRCv3 escapes become their characters; unknown escapes and a final backslash too."""
    assert unescape_tag_value(r"a\sb\:c\\d\re\nf") == "a b;c\\d\re\nf"
    assert unescape_tag_value("x\\y") == "xy"
    assert unescape_tag_value("end\\") == "end"


def test_tag_value_finds_one_tag_exactly() -> None:
    """tag_value reads one tag's value; a key that only ends another key does not match."""
    assert tag_value("time=1;a=b", "time") == "1"
    assert tag_value("a=b;time=2", "time") == "2"
    assert tag_value("servertime=x;+draft/time=y;time=3;z", "time") == "3"
    assert tag_value("servertime=x", "time") is None
    assert tag_value("time", "time") is None
    assert tag_value("msg=a\\sb;x", "msg") == "a b"


def test_server_time_parses_to_aware_utc() -> None:
    """The time tag becomes aware UTC; malformed values are None."""
    assert parse_server_time("2011-10-19T16:40:51.620Z") == datetime(
        2011, 10, 19, 16, 40, 51, 620000, tzinfo=UTC
    )
    assert parse_server_time("2011-10-19T18:40:51+02:00") == datetime(
        2011, 10, 19, 16, 40, 51, tzinfo=UTC
    )
    assert parse_server_time("2011-10-19T16:40:51") == datetime(
        2011, 10, 19, 16, 40, 51, tzinfo=UTC
    )
    assert parse_server_time("yesterday") is None


def test_nick_of() -> None:
    """The nick is the part before '!'; a server prefix is returned whole."""
    assert nick_of("alice!~a@host") == "alice"
    assert nick_of("irc.example.net") == "irc.example.net"


# -- roster ---------------------------------------------------------------------------------


def test_casefolders() -> None:
    """rfc1459 folds []\\~, strict-rfc1459 not ~, ascii only letters."""
    assert casefolder("rfc1459")("[Nick]\\~") == "{nick}|^"
    assert casefolder("strict-rfc1459")("[Nick]\\~") == "{nick}|~"
    assert casefolder("ascii")("[Nick]\\~") == "[nick]\\~"
    assert casefolder("rfc7613")("ÄBC") == "äbc"


def test_roster_names_strip_every_prefix_and_userhost() -> None:
    """multi-prefix names (@+nick) and userhost-in-names (nick!u@h) leave the bare nick."""
    r = Roster()
    r.joined("#x")
    r.names("#x", ["@+alice", "+bob!b@h", "~carol", "dave"], "~&@%+")
    r.end_names("#x")
    assert sorted(r.members("#x")) == ["alice", "bob", "carol", "dave"]


def test_roster_names_replace_the_member_list_when_complete() -> None:
    """A second NAMES reply replaces the members, but only once 366 arrives."""
    r = Roster()
    r.joined("#x")
    r.names("#x", ["a", "b"], "@+")
    r.end_names("#x")
    r.names("#x", ["c"], "@+")
    assert sorted(r.members("#x")) == ["a", "b"]
    r.end_names("#x")
    assert r.members("#x") == ["c"]


def test_roster_quit_and_rename_report_shared_channels() -> None:
    """quit() and rename() return exactly the channels the nick was in, in join order."""
    r = Roster()
    for chan, names in (("#a", ["Al", "bo"]), ("#b", ["al"]), ("#c", ["bo"])):
        r.joined(chan)
        r.names(chan, names, "")
        r.end_names(chan)
    assert r.rename("AL", "ally") == ["#a", "#b"]
    assert r.quit("al") == []
    assert r.quit("Ally") == ["#a", "#b"]
    assert r.members("#a") == ["bo"]


def test_roster_ignores_channels_the_bot_is_not_in() -> None:
    """JOINs, NAMES and removals for unknown channels change nothing."""
    r = Roster()
    r.add("#nope", "a")
    r.names("#nope", ["a"], "")
    r.end_names("#nope")
    assert not r.remove("#nope", "a")
    assert r.channels() == []
    assert r.canonical("#nope") is None


def test_roster_left_forgets_and_casemapping_switch_refolds() -> None:
    """left() drops a channel; switching casemapping refolds known names."""
    r = Roster("ascii")
    r.joined("#Chan[1]")
    r.add("#chan[1]", "[bob]")
    assert r.canonical("#CHAN[1]") == "#Chan[1]"
    assert r.canonical("#chan{1}") is None
    r.set_casemapping("rfc1459")
    assert r.canonical("#chan{1}") == "#Chan[1]"
    assert r.quit("{BOB}") == ["#Chan[1]"]
    r.left("#CHAN{1}")
    assert r.channels() == []


# -- rate limits ----------------------------------------------------------------------------


def test_sender_limiter_once_per_interval_per_sender() -> None:
    """One answer per sender per interval; the global cap counts answers in the window."""
    lim = SenderLimiter(interval=60, global_max=2)
    assert lim.allow("a", 0)
    assert not lim.allow("a", 59.9)
    assert lim.allow("b", 10)
    assert not lim.allow("c", 20)  # global cap
    assert lim.allow("a", 60)  # a's window expired, and that freed a global slot
    assert not lim.allow("c", 65)
    assert lim.allow("c", 70)


def test_token_bucket_burst_then_steady_rate() -> None:
    """burst lines at once, then one per interval; wait() says how long until the next."""
    b = TokenBucket(now=0, interval=2.0, burst=3)
    assert [b.take(0) for _ in range(4)] == [True, True, True, False]
    assert b.wait(0) == pytest.approx(2.0)
    assert not b.take(1.9)
    assert b.take(2.0)
    assert b.take(100)
    assert b.take(100)
    assert b.take(100)
    assert not b.take(100)


# -- CAP helpers -------------------------------------------------------------------------------


def test_parse_caps() -> None:
    """Values after '=' are kept; old draft modifiers dropped; '-' kept for ACK."""
    assert parse_caps("sasl=PLAIN,EXTERNAL ~multi-prefix =server-time -away-notify") == {
        "sasl": "PLAIN,EXTERNAL",
        "multi-prefix": "",
        "server-time": "",
        "-away-notify": "",
    }


def test_req_lines_split_long_requests() -> None:
    """A long capability list is asked for in several short CAP REQ lines."""
    caps = [f"vendor.example/cap-number-{i:03d}" for i in range(40)]
    lines = req_lines(caps)
    assert len(lines) > 1
    assert all(len(line.encode()) <= 420 for line, _ in lines)
    assert set().union(*(asked for _, asked in lines)) == set(caps)
    assert req_lines(["a", "b"]) == [("CAP REQ :a b", frozenset({"a", "b"}))]


def test_sasl_plain_chunks() -> None:
    """PLAIN is account NUL account NUL password in base64, in 400-byte pieces, '+' after 400."""
    (chunk,) = sasl_plain_chunks("bot", "pw")
    assert base64.b64decode(chunk) == b"bot\0bot\0pw"
    exact = sasl_plain_chunks("a", "p" * 296)  # 300 raw bytes -> exactly 400 in base64
    assert [len(c) for c in exact] == [400, 1]
    assert exact[-1] == "+"
    long = sasl_plain_chunks("a", "p" * 400)
    assert [len(c) for c in long[:-1]] == [400]
    assert long[-1] != "+"
    assert base64.b64decode("".join(long)) == b"a\0a\0" + b"p" * 400


def test_join_lines_put_keyed_channels_first_and_split_long_lists() -> None:
    """Keys pair with the first channels of a JOIN; long lists become several lines."""
    assert join_lines([("#a", None), ("#b", "kb"), ("#c", None), ("#d", "kd")]) == [
        "JOIN #b,#d,#a,#c kb,kd"
    ]
    many = [(f"#channel-{i:03d}", None) for i in range(100)]
    lines = join_lines(many)
    assert len(lines) > 1
    assert all(len(line) < 420 for line in lines)
    assert sum(line.count("#") for line in lines) == 100


def test_server_time_out_of_range_or_far_from_the_receive_time_is_none() -> None:
    """Stamps UTC cannot hold, or more than a day from the receive time, are not believed."""
    received = datetime(2025, 11, 28, 19, 35, 22, tzinfo=UTC)
    assert parse_server_time("0001-01-01T00:00:00+01:00") is None
    assert parse_server_time("9999-12-31T23:59:59-01:00") is None
    assert plausible_server_time("2025-11-28T10:00:00Z", received) == datetime(
        2025, 11, 28, 10, tzinfo=UTC
    )
    assert plausible_server_time("2025-11-27T19:35:21Z", received) is None
    assert plausible_server_time("2025-11-29T19:35:23Z", received) is None
    assert plausible_server_time("not a time", received) is None


def test_reply_budget_stops_a_sender_until_its_window_passes() -> None:
    """max_replies within the window, then no more until the oldest leaves the window."""
    budget = ReplyBudget(max_replies=2, window=100.0)
    assert budget.allows("a", 0.0)
    budget.record("a", 0.0)
    budget.record("a", 50.0)
    assert not budget.allows("a", 60.0)
    assert budget.allows("b", 60.0)
    assert budget.allows("a", 100.5)  # the reply at 0 has left the window
    assert budget.allows("a", 151.0)
    assert budget._replies == {}  # nothing remembered once the window is empty
