"""The service's own log: one greppable line per event, filtered by --log-level."""

from __future__ import annotations

import io
import re

import pytest
from twisted.logger import Logger, LogLevel, globalLogBeginner
from twisted.python.failure import Failure

from logbot.service import format_log_line

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ \S+: .+$")


def event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "log_time": 1_700_000_000.25,
        "log_level": LogLevel.info,
        "log_namespace": "logbot.irc",
    }
    base.update(fields)
    return base


def test_a_line_is_utc_time_level_namespace_and_the_formatted_message() -> None:
    """Fixed fields: UTC time with milliseconds, upper-case level, namespace, message."""
    line = format_log_line(
        event(
            log_level=LogLevel.warn,
            log_format="{network}: joined {channel}",
            network="libera",
            channel="#x",
        )
    )
    assert line == "2023-11-14T22:13:20.250Z WARN logbot.irc: libera: joined #x"


def test_every_level_has_its_name() -> None:
    """debug, info, warn, error and critical each print as their upper-case name."""
    for level in (LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error, LogLevel.critical):
        line = format_log_line(event(log_level=level, log_format="x"))
        assert line.split(" ")[1] == level.name.upper()


def test_a_newline_in_a_message_cannot_start_another_line() -> None:
    """Control characters in the message (a server's reason, say) are shown as the text log
    shows them (Control Pictures), not obeyed."""
    line = format_log_line(event(log_format="{why}", why="bye\nFAKE ERROR\r\x07"))
    assert "\n" not in line
    assert line.endswith("logbot.irc: bye\u240aFAKE ERROR\u240d\u2407")
    assert LINE.match(line)


def test_a_failure_adds_its_type_and_an_indented_traceback() -> None:
    """An unexpected failure: the summary on the event's line, the traceback indented below."""
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        failure = Failure()
    first, *rest = format_log_line(
        event(log_level=LogLevel.critical, log_format="backend failed", log_failure=failure)
    ).split("\n")
    assert first.endswith("CRITICAL logbot.irc: backend failed (ValueError: bad\u240avalue)")
    assert rest
    assert all(line.startswith("    ") for line in rest)
    assert rest[0].strip().startswith("Traceback")


def test_an_event_without_a_format_still_gets_one_line() -> None:
    """An event with no message (Twisted sends some) prints as a dash, never as nothing."""
    line = format_log_line({"log_time": 0.0, "log_level": LogLevel.info, "log_namespace": "x"})
    assert line == "1970-01-01T00:00:00.000Z INFO x: -"


def test_the_predicate_drops_events_below_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """start_logging at warn: an info event is dropped, a warning is written."""
    from logbot import service

    out = io.StringIO()
    published: list[object] = []

    def begin(observers: list[object], redirectStandardIO: bool = True) -> None:
        published.extend(observers)

    # the real beginner can start only once per process, and would take over pytest's output
    monkeypatch.setattr(globalLogBeginner, "beginLoggingTo", begin)
    service.start_logging("warn", out)
    (observer,) = published
    log = Logger(namespace="logbot.test", observer=observer)  # type: ignore[arg-type]
    log.info("quiet")
    log.warn("loud")
    assert out.getvalue().count("\n") == 1
    assert " WARN logbot.test: loud" in out.getvalue()
