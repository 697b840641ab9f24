"""The text-file backend: golden lines for every kind, the date lines, and the file itself."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import task
from twisted.logger import LogLevel, globalLogPublisher

from logbot.backends import textfile
from logbot.backends.base import Backend, BackendOptions, load_backend
from logbot.backends.textfile import TextFileBackend, date_line, format_line
from logbot.events import GAP_KINDS, RECORD_KINDS, Event, Kind
from logbot.text import visible

# 2026-11-28 20:35:30 UTC, a Saturday
T0 = datetime(2026, 11, 28, 20, 35, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC unless a test picks another zone (POSIX TZ: no tzdata needed)."""
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def set_tz(monkeypatch: pytest.MonkeyPatch, tz: str) -> None:
    monkeypatch.setenv("TZ", tz)
    time.tzset()


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    """Every twisted.logger event emitted during the test."""
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def ev(kind: Kind, nick: str = "alice", text: str = "", **kw: Any) -> Event:
    fields: dict[str, Any] = {"time": T0, "network": "net", "channel": "#x"}
    fields.update(kw)
    return Event(kind=kind, nick=nick, text=text, **fields)


GOLDEN: list[tuple[Event, str]] = [
    (ev(Kind.MESSAGE, text="hello world"), "<alice> hello world"),
    (ev(Kind.ACTION, text="waves"), "* alice waves"),
    (ev(Kind.NOTICE, text="server restart at noon"), "-alice- server restart at noon"),
    (ev(Kind.JOIN, nick="logbot", own=True), "[I have joined #x]"),
    (ev(Kind.JOIN, userhost="al@example.org"), "--> alice (al@example.org) has joined #x"),
    (ev(Kind.JOIN), "--> alice has joined #x"),
    (ev(Kind.PART, text="bye", userhost="al@h"), "<-- alice (al@h) has left #x (bye)"),
    (ev(Kind.PART), "<-- alice has left #x"),
    (ev(Kind.PART, nick="logbot", own=True), "[I have left #x]"),
    (ev(Kind.QUIT, text="Ping timeout"), "<-- alice has quit (Ping timeout)"),
    (ev(Kind.QUIT, userhost="al@h"), "<-- alice (al@h) has quit"),
    (ev(Kind.KICK, nick="op", target="bob", text="spam"), "<-- op has kicked bob from #x (spam)"),
    (ev(Kind.KICK, nick="op", target="bob"), "<-- op has kicked bob from #x"),
    (ev(Kind.NICK, nick="bob", target="bob2"), "bob is now known as bob2"),
    (ev(Kind.TOPIC, text="release friday"), "-- alice set the topic of #x to: release friday"),
    (ev(Kind.TOPIC, nick="", text="release friday"), "-- the topic of #x is: release friday"),
    (ev(Kind.TOPIC), "-- alice cleared the topic of #x"),
    (ev(Kind.MODE, nick="op", text="+o-v alice bob"), "-- op sets mode #x +o-v alice bob"),
    (ev(Kind.MODE, nick="", text="+nt"), "-- the server sets mode #x +nt"),
]

MARKERS: list[tuple[Event, str]] = [
    (ev(Kind.CONNECTED, nick="logbot", channel=""), "[connected at Sat Nov 28 20:35:30 2026]"),
    (
        ev(Kind.DISCONNECTED, nick="logbot", channel=""),
        "[disconnected at Sat Nov 28 20:35:30 2026]",
    ),
    (
        ev(Kind.DISCONNECTED, nick="logbot", channel="", text="Ping timeout"),
        "[disconnected at Sat Nov 28 20:35:30 2026]",  # exactly ircLogBot's: no reason
    ),
]


@pytest.mark.parametrize(("event", "body"), GOLDEN + MARKERS)
def test_single_channel_lines_are_ircLogBot_format(event: Event, body: str) -> None:
    """With one channel, each kind is a timestamp then the golden body, nothing else."""
    assert format_line(event, multi_channel=False) == "[20:35:30] " + body


@pytest.mark.parametrize(("event", "body"), GOLDEN)
def test_multi_channel_lines_name_the_channel_after_the_timestamp(event: Event, body: str) -> None:
    """With several channels in one file, the channel follows the timestamp."""
    assert format_line(event, multi_channel=True) == "[20:35:30] #x " + body


@pytest.mark.parametrize(("event", "body"), MARKERS)
def test_session_markers_name_no_channel_in_multi_channel_mode(event: Event, body: str) -> None:
    """Connect and disconnect markers belong to no channel, so no channel is printed."""
    assert format_line(event, multi_channel=True) == "[20:35:30] " + body


def test_every_kind_has_a_golden_line() -> None:
    """No event kind but the record kinds (gap markers, network facts, redactions: never
    written) is left without a format."""
    assert {e.kind for e, _ in GOLDEN + MARKERS} == set(Kind) - RECORD_KINDS


def test_a_network_fact_is_no_line(tmp_path: Path) -> None:
    """FACT events (what a server announced about its network) never reach the text log."""
    backend = make(tmp_path)
    backend.write(ev(Kind.FACT, nick="", channel="", target="crawler-index", text="deny"))
    backend.write(ev(Kind.MESSAGE, text="hi"))
    backend.close()
    assert [
        line for line in lines(tmp_path / "log.txt") if "crawler" in line or "deny" in line
    ] == []
    assert lines(tmp_path / "log.txt")[-1].endswith("<alice> hi")


def test_a_redaction_is_no_line(tmp_path: Path) -> None:
    """A REDACT cannot unwrite the line already in the text log, and adds none."""
    backend = make(tmp_path)
    backend.write(ev(Kind.MESSAGE, text="oops", msgid="m1"))
    backend.write(ev(Kind.REDACT, text="by mistake", msgid="m1"))
    backend.close()
    assert lines(tmp_path / "log.txt")[-1].endswith("<alice> oops")
    assert not any("by mistake" in line for line in lines(tmp_path / "log.txt"))


def test_lines_are_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timestamp and the connect date are the local zone's, as in ircLogBot."""
    set_tz(monkeypatch, "XYZ-3")  # UTC+3: 20:35 UTC is 23:35 local
    assert format_line(ev(Kind.MESSAGE, text="hi"), multi_channel=False) == "[23:35:30] <alice> hi"
    set_tz(monkeypatch, "ABC+5")  # UTC-5, same second: the cached stamp must not leak
    line = format_line(ev(Kind.CONNECTED, nick="logbot", channel=""), multi_channel=False)
    assert line == "[15:35:30] [connected at Sat Nov 28 15:35:30 2026]"


def test_connect_date_pads_the_day_like_asctime() -> None:
    """The connect marker uses asctime's date exactly (space-padded day of month)."""
    event = ev(
        Kind.CONNECTED, nick="logbot", channel="", time=datetime(2026, 3, 1, 9, 5, tzinfo=UTC)
    )
    assert (
        format_line(event, multi_channel=False)
        == "[09:05:00] [connected at Sun Mar  1 09:05:00 2026]"
    )


def test_the_second_is_truncated_not_rounded() -> None:
    """An event at hh:mm:ss.999 is stamped hh:mm:ss, the next one at the next second."""
    late = ev(Kind.MESSAGE, text="a", time=T0 + timedelta(microseconds=999_999))
    next_ = ev(Kind.MESSAGE, text="b", time=T0 + timedelta(seconds=1))
    assert format_line(late, multi_channel=False) == "[20:35:30] <alice> a"
    assert format_line(next_, multi_channel=False) == "[20:35:31] <alice> b"


def test_date_lines_mark_a_day_change_at_midnight_and_a_file_start() -> None:
    """A day change is stamped 00:00:00 with the new date; a file start with the event's time."""
    after_midnight = ev(Kind.MESSAGE, time=datetime(2026, 11, 29, 0, 0, 5, tzinfo=UTC))
    assert date_line(after_midnight) == "[00:00:00] --- Day changed Sun Nov 29 2026"
    assert date_line(ev(Kind.MESSAGE), opened=True) == "[20:35:30] --- Log opened Sat Nov 28 2026"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\r\nb", "a\u240d\u240ab"),
        ("a\nb", "a\u240ab"),
        ("nul\x00", "nul\u2400"),
        ("\x1b[31mred", "\u241b[31mred"),
        ("tab\there", "tab\u2409here"),
        ("del\x7f", "del\u2421"),
        ("ls\u2028ps\u2029nel\x85", "ls\u2424ps\u2424nel\u2424"),
        ("csi\x9b2Jgone \x90dcs\x9c", "csi\ufffd2Jgone \ufffddcs\ufffd"),
        (
            "if \u202eadmin\u202c \u2066x\u2069 \u200b\u200e",
            "if \ufffdadmin\ufffd \ufffdx\ufffd \ufffd\ufffd",
        ),
        ("\x02bold\x02 \x0304,01colour\x03 \x1ditalic\x1d \x1funder\x1f \x0f", None),
        ("plain text, ünïcödé, 漢字", None),
    ],
)
def test_control_characters_are_made_visible(text: str, shown: str | None) -> None:
    """CR, LF, NUL, ESC and friends become visible symbols, C1 controls and bidi overrides
    U+FFFD; IRC formatting codes are kept."""
    expected = text if shown is None else shown
    assert format_line(ev(Kind.MESSAGE, text=text), multi_channel=False) == (
        f"[20:35:30] <alice> {expected}"
    )


def test_control_characters_in_nicks_and_channels_are_made_visible_too() -> None:
    """Every field of the line is escaped, not only the message text."""
    event = ev(Kind.NICK, nick="a\nb", target="c\rd", channel="#x\n")
    assert (
        format_line(event, multi_channel=True)
        == "[20:35:30] #x\u240a a\u240ab is now known as c\u240dd"
    )


@given(st.text())
def test_any_text_makes_exactly_one_line(text: str) -> None:
    """Whatever a message holds, its log line reads back as exactly one line."""
    line = format_line(ev(Kind.MESSAGE, text=text), multi_channel=False)
    data = (line + "\n").encode("utf-8", "backslashreplace")
    assert data.count(b"\n") == 1
    assert b"\r" not in data
    assert len(data.decode("utf-8").split("\n")) == 2  # io's universal newlines agree
    assert visible(line) == line


# --- the file -------------------------------------------------------------------------------


def make(tmp_path: Path, clock: task.Clock | None = None, **kw: Any) -> TextFileBackend:
    return TextFileBackend(str(tmp_path / "log.txt"), clock or task.Clock(), **kw)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_backend_satisfies_the_backend_protocol_and_is_the_file_entry_point(
    tmp_path: Path,
) -> None:
    """`file` in the logbot.backends group builds this backend with the run's options."""
    clock = task.Clock()
    backend = load_backend("file")(str(tmp_path / "a.log"), BackendOptions(clock, True))
    assert isinstance(backend, TextFileBackend)
    assert isinstance(backend, Backend)
    assert backend.multi_channel is True
    backend.close()


def test_the_directory_is_created_if_missing(tmp_path: Path) -> None:
    """A log path in a directory that does not exist yet works."""
    path = tmp_path / "deep" / "er" / "log.txt"
    backend = TextFileBackend(str(path), task.Clock())
    backend.write(ev(Kind.MESSAGE, text="hi"))
    backend.close()
    assert lines(path)[-1] == "[20:35:30] <alice> hi"


def test_an_unopenable_path_fails_at_creation_with_one_line_naming_it(tmp_path: Path) -> None:
    """A path that cannot be opened raises at once, and the message names the file."""
    with pytest.raises(OSError, match=r"^cannot open the text log .*: Is a directory$"):
        TextFileBackend(str(tmp_path), task.Clock())


def test_a_c1_control_sequence_does_not_reach_the_file_raw(tmp_path: Path) -> None:
    """CSI (U+009B) and the other C1 controls, which some terminals obey like ESC [, are
    written as U+FFFD: a `cat` or `tail -f` of the log cannot be driven by a message."""
    backend = make(tmp_path)
    backend.write(ev(Kind.MESSAGE, text="x\x9b2J\x9b31mred\x1b]0;title\x07"))
    backend.close()
    data = (tmp_path / "log.txt").read_text(encoding="utf-8")
    assert not any(0x80 <= ord(c) <= 0x9F or c == "\x1b" for c in data)
    assert data.splitlines()[-1] == "[20:35:30] <alice> x\ufffd2J\ufffd31mred\u241b]0;title\u2407"


def test_the_file_is_appended_to_not_truncated(tmp_path: Path) -> None:
    """Restarting the bot keeps the old log and appends after it."""
    path = tmp_path / "log.txt"
    path.write_text("old line\n")
    backend = make(tmp_path)
    backend.write(ev(Kind.MESSAGE, text="new"))
    backend.close()
    assert lines(path) == [
        "old line",
        "[20:35:30] --- Log opened Sat Nov 28 2026",
        "[20:35:30] <alice> new",
    ]


def test_a_session_log_reads_like_ircLogBot(tmp_path: Path) -> None:
    """A whole session in one channel is the contract's example, after the opening date line."""
    backend = make(tmp_path)
    for event in [
        ev(Kind.CONNECTED, nick="logbot", channel="", time=T0 - timedelta(seconds=8)),
        ev(Kind.JOIN, nick="logbot", own=True, time=T0 - timedelta(seconds=7)),
        ev(Kind.MESSAGE, text="hello world"),
        ev(Kind.ACTION, text="waves", time=T0 + timedelta(seconds=1)),
        ev(Kind.NICK, nick="bob", target="bob2", time=T0 + timedelta(seconds=10)),
        ev(Kind.DISCONNECTED, nick="logbot", channel="", time=T0 + timedelta(seconds=30)),
    ]:
        backend.write(event)
    backend.close()
    assert lines(tmp_path / "log.txt") == [
        "[20:35:22] --- Log opened Sat Nov 28 2026",
        "[20:35:22] [connected at Sat Nov 28 20:35:22 2026]",
        "[20:35:23] [I have joined #x]",
        "[20:35:30] <alice> hello world",
        "[20:35:31] * alice waves",
        "[20:35:40] bob is now known as bob2",
        "[20:36:00] [disconnected at Sat Nov 28 20:36:00 2026]",
    ]


def test_a_date_line_is_written_when_the_local_day_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crossing local midnight writes `--- Day changed` once, before the first line of the day."""
    set_tz(monkeypatch, "XYZ-3")  # local midnight is 21:00 UTC
    backend = make(tmp_path, multi_channel=True)
    backend.write(
        ev(Kind.MESSAGE, text="late", time=datetime(2026, 11, 28, 20, 59, 59, tzinfo=UTC))
    )
    backend.write(ev(Kind.MESSAGE, text="early", time=datetime(2026, 11, 28, 21, 0, 1, tzinfo=UTC)))
    backend.write(ev(Kind.ACTION, text="yawns", time=datetime(2026, 11, 28, 21, 0, 2, tzinfo=UTC)))
    backend.close()
    assert lines(tmp_path / "log.txt") == [
        "[23:59:59] --- Log opened Sat Nov 28 2026",
        "[23:59:59] #x <alice> late",
        "[00:00:00] --- Day changed Sun Nov 29 2026",
        "[00:00:01] #x <alice> early",
        "[00:00:02] #x * alice yawns",
    ]


def test_nothing_is_written_before_the_flush_second_then_everything_is(tmp_path: Path) -> None:
    """Lines are buffered and reach the file within one second, without a flush() call."""
    clock = task.Clock()
    backend = make(tmp_path, clock)
    path = tmp_path / "log.txt"
    backend.write(ev(Kind.MESSAGE, text="one"))
    clock.advance(0.99)
    assert path.read_bytes() == b""
    clock.advance(0.01)
    assert lines(path)[-1] == "[20:35:30] <alice> one"
    backend.write(ev(Kind.MESSAGE, text="two"))
    clock.advance(1.0)
    assert lines(path)[-1] == "[20:35:30] <alice> two"
    backend.close()


def test_flush_writes_at_once_and_its_deferred_fires(tmp_path: Path) -> None:
    """flush() puts every accepted line in the file before its Deferred fires."""
    backend = make(tmp_path)
    backend.write(ev(Kind.MESSAGE, text="now"))
    fired: list[object] = []
    backend.flush().addCallback(fired.append)
    assert fired == [None]
    assert lines(tmp_path / "log.txt")[-1] == "[20:35:30] <alice> now"
    backend.close()


def test_gap_markers_and_backfilled_lines_stay_out_of_the_text_log(tmp_path: Path) -> None:
    """The file holds what the bot heard live, in order: no gap rows, no history pages."""
    backend = make(tmp_path)
    for kind in sorted(GAP_KINDS):
        backend.write(ev(kind, text="disconnected"))
    backend.write(ev(Kind.MESSAGE, text="from history", backfilled=True))
    backend.write(ev(Kind.MESSAGE, text="live"))
    backend.close()
    assert lines(tmp_path / "log.txt")[-1:] == ["[20:35:30] <alice> live"]
    assert not any("history" in line for line in lines(tmp_path / "log.txt"))


def test_a_burst_is_written_before_the_second_is_over(tmp_path: Path) -> None:
    """A buffer past the threshold is written at once, so a burst cannot grow memory."""
    backend = make(tmp_path)
    path = tmp_path / "log.txt"
    backend.write(ev(Kind.MESSAGE, text="x" * 1000))
    assert path.read_bytes() == b""
    for _ in range(textfile.FLUSH_THRESHOLD_CHARS // 1000):
        backend.write(ev(Kind.MESSAGE, text="x" * 1000))
    assert path.stat().st_size >= textfile.FLUSH_THRESHOLD_CHARS  # and the clock never moved
    backend.close()


def test_close_flushes_stops_the_timer_and_ignores_later_writes(tmp_path: Path) -> None:
    """After close() the file has everything, no timer is left, and a late event is ignored."""
    clock = task.Clock()
    backend = make(tmp_path, clock)
    backend.write(ev(Kind.MESSAGE, text="last"))
    fired: list[object] = []
    backend.close().addCallback(fired.append)
    assert fired == [None]
    assert clock.getDelayedCalls() == []
    backend.write(ev(Kind.MESSAGE, text="too late"))
    backend.flush()
    backend.reopen()
    backend.close()
    assert lines(tmp_path / "log.txt")[-1] == "[20:35:30] <alice> last"


def test_reopen_after_rename_writes_a_fresh_file(tmp_path: Path) -> None:
    """After logrotate renames the file, reopen() starts a new file at the old path."""
    clock = task.Clock()
    backend = make(tmp_path, clock)
    path = tmp_path / "log.txt"
    backend.write(ev(Kind.MESSAGE, text="before"))
    clock.advance(1)
    path.rename(tmp_path / "log.txt.1")
    backend.write(ev(Kind.MESSAGE, text="buffered at rotation"))
    backend.reopen()
    backend.write(ev(Kind.MESSAGE, text="after"))
    backend.close()
    assert lines(tmp_path / "log.txt.1") == [
        "[20:35:30] --- Log opened Sat Nov 28 2026",
        "[20:35:30] <alice> before",
        "[20:35:30] <alice> buffered at rotation",
    ]
    assert lines(path) == ["[20:35:30] --- Log opened Sat Nov 28 2026", "[20:35:30] <alice> after"]


def test_a_failed_reopen_keeps_writing_to_the_old_file(
    tmp_path: Path, logged: list[dict[str, Any]]
) -> None:
    """If the path cannot be opened again, the error is logged and nothing is lost."""
    directory = tmp_path / "logs"
    backend = TextFileBackend(str(directory / "log.txt"), task.Clock())
    directory.rename(tmp_path / "moved")
    (tmp_path / "logs").write_text("a file where the directory was")
    backend.reopen()
    backend.write(ev(Kind.MESSAGE, text="still here"))
    backend.close()
    assert lines(tmp_path / "moved" / "log.txt")[-1] == "[20:35:30] <alice> still here"
    errors = [e for e in logged if e.get("log_level") == LogLevel.error]
    assert len(errors) == 1
    assert "cannot reopen" in errors[0]["log_format"]


class FullDisk:
    """Stands in for os.write: refuses with ENOSPC, or writes a few bytes, until healed."""

    def __init__(self, partial: int = 0) -> None:
        self.full = True
        self.partial = partial
        self.calls = 0

    def __call__(self, fd: int, data: Any) -> int:
        self.calls += 1
        if not self.full:
            return os.write(fd, data)
        if self.partial:
            written = os.write(fd, bytes(data[: self.partial]))
            self.partial = 0
            return written
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_never_raises_logs_once_and_writes_everything_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: list[dict[str, Any]]
) -> None:
    """ENOSPC is logged once; lines stay held and reach the file in order once space returns."""
    clock = task.Clock()
    backend = make(tmp_path, clock)
    disk = FullDisk(partial=5)
    monkeypatch.setattr(textfile, "_write", disk)
    for n in range(3):
        backend.write(ev(Kind.MESSAGE, text=f"m{n}"))
        backend.flush()
        clock.advance(1)
    errors = [e for e in logged if e.get("log_level") == LogLevel.error]
    assert len(errors) == 1
    assert errors[0]["error"] == os.strerror(errno.ENOSPC)
    disk.full = False
    clock.advance(1)
    assert lines(tmp_path / "log.txt") == [
        "[20:35:30] --- Log opened Sat Nov 28 2026",
        "[20:35:30] <alice> m0",
        "[20:35:30] <alice> m1",
        "[20:35:30] <alice> m2",
    ]
    assert any("again" in e.get("log_format", "") for e in logged)
    backend.close()


def test_held_lines_are_bounded_dropping_the_oldest_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: list[dict[str, Any]]
) -> None:
    """While the disk stays full, at most MAX_HELD_BYTES are held; the newest lines survive."""
    monkeypatch.setattr(textfile, "MAX_HELD_BYTES", 100)
    backend = make(tmp_path)
    disk = FullDisk()
    monkeypatch.setattr(textfile, "_write", disk)
    for n in range(10):
        backend.write(ev(Kind.MESSAGE, text=f"line {n}"))
    backend.flush()
    backend.flush()  # still full: nothing more dropped, nothing reported yet
    assert not [e for e in logged if "dropped" in e.get("log_format", "")]
    disk.full = False
    backend.close()
    kept = lines(tmp_path / "log.txt")
    assert kept == [f"[20:35:30] <alice> line {n}" for n in range(7, 10)]
    reports = [e for e in logged if "dropped" in e.get("log_format", "")]
    assert [e["dropped"] for e in reports] == [8]  # the date line and lines 0..6, once


def test_close_on_a_full_disk_reports_what_was_lost_and_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: list[dict[str, Any]]
) -> None:
    """Shutting down with the disk still full logs the byte count and completes."""
    backend = make(tmp_path)
    monkeypatch.setattr(textfile, "_write", FullDisk())
    backend.write(ev(Kind.MESSAGE, text="lost"))
    fired: list[object] = []
    backend.close().addCallback(fired.append)
    assert fired == [None]
    assert [e["lines"] for e in logged if "before closing" in e.get("log_format", "")] == [2]


class _ThreadedClock(task.Clock):
    """A clock whose callInThread queues the call, so a test decides when "the thread" runs."""

    def __init__(self) -> None:
        super().__init__()
        self.in_thread: list[Any] = []

    def callInThread(self, f: Any, *args: Any) -> None:
        self.in_thread.append(lambda: f(*args))

    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)


def test_written_lines_are_synced_to_disk_each_second_off_the_reactor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each second's lines are fdatasync'ed on a thread, so a power loss costs at most a second."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", synced.append)
    clock = _ThreadedClock()
    backend = TextFileBackend(str(tmp_path / "log.txt"), clock)
    backend.write(ev(Kind.MESSAGE, text="one"))
    clock.advance(1.0)
    assert synced == []
    assert len(clock.in_thread) == 1
    clock.advance(1.0)  # nothing new written and a sync still running: no second sync
    assert len(clock.in_thread) == 1
    clock.in_thread.pop()()
    assert len(synced) == 1
    backend.write(ev(Kind.MESSAGE, text="two"))
    clock.advance(1.0)
    assert len(clock.in_thread) == 1
    backend.close()


def test_an_idle_file_is_not_synced_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing written since the last sync, the second's tick costs no sync."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", synced.append)
    clock = task.Clock()
    backend = TextFileBackend(str(tmp_path / "log.txt"), clock)
    backend.write(ev(Kind.MESSAGE, text="one"))
    clock.advance(1.0)
    clock.advance(1.0)
    clock.advance(1.0)
    assert len(synced) == 1
    backend.close()


def test_the_sync_runs_on_the_pool_the_service_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a shared pool in BackendOptions, fdatasync runs there, not on the reactor's."""
    from logbot.backends.base import BackendOptions
    from logbot.backends.textfile import create

    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", synced.append)

    class Pool:
        calls: list[Any] = []

        def callInThread(self, f: Any, *args: Any) -> None:
            self.calls.append(lambda: f(*args))

    pool = Pool()
    clock = _ThreadedClock()
    backend = create(str(tmp_path / "log.txt"), BackendOptions(reactor=clock, pool=pool))  # type: ignore[arg-type]
    backend.write(ev(Kind.MESSAGE, text="one"))
    clock.advance(1.0)
    assert clock.in_thread == []
    assert len(pool.calls) == 1
    pool.calls.pop()()
    assert len(synced) == 1
    backend.close()
