"""Smoke tests of the ingest benchmark's parts: the stream, the checker, the irclogbot patch.

No logger and no socket here: the flood server itself is tried over loopback in
tests/integration/test_bench_flood_server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ingest import TextWatcher, patch_irclogbot
from bench.stream import (
    ALL_KINDS,
    JOIN,
    NICK,
    PART,
    PRIVMSG,
    QUIT,
    TokenCounter,
    build_stream,
    line_token,
    token,
)

LINES = 400


def test_stream_gives_every_line_one_token_of_its_own() -> None:
    """Line i carries token i, read back as the last token on it, and no line is too long."""
    stream = build_stream(LINES, members=20)
    lines = [line for line in stream.data.split(b"\r\n") if line and not line.startswith(b"PING ")]
    assert len(lines) == LINES
    assert [line_token(line) for line in lines] == list(range(LINES))
    assert max(len(line) for line in lines) <= 510
    stream.data.decode("utf-8")  # raises if any line is not UTF-8


def test_stream_moves_only_members_of_the_channel() -> None:
    """Speakers, leavers and renamers are in the channel (NAMES, then the stream's own joins)."""
    stream = build_stream(LINES * 5, members=10, seed=7)
    present = set(stream.members)
    kinds_seen = set()
    for raw in stream.data.split(b"\r\n"):
        if not raw.startswith(b":"):
            continue
        prefix, command, *rest = raw.decode().split(" ")
        nick = prefix[1:].split("!")[0]
        kinds_seen.add(command)
        if command == "JOIN":
            assert nick not in present
            present.add(nick)
            continue
        assert nick in present, raw
        if command in ("PART", "QUIT"):
            present.remove(nick)
        elif command == "NICK":
            present.remove(nick)
            present.add(rest[0].lstrip(":"))
    assert kinds_seen == {"PRIVMSG", "NOTICE", "JOIN", "PART", "QUIT", "NICK"}
    counts = stream.kind_counts()
    assert counts["privmsg"] / stream.lines > 0.85
    assert present, "the channel never empties"


def test_stream_checkpoints_end_on_their_line_and_the_last_is_a_privmsg() -> None:
    """Each checkpoint offset is just after the PRIVMSG line that carries its token."""
    stream = build_stream(LINES, checkpoints=4)
    assert stream.checkpoints[-1] == (LINES - 1, len(stream.data))
    for number, end in stream.checkpoints:
        start = stream.data.rindex(b"\r\n", 0, end - 2) + 2
        assert line_token(stream.data[start:end]) == number
        assert stream.kinds[number] == PRIVMSG
    for name, offset in stream.probes:
        assert stream.data[offset:].startswith(f"PING :{name}\r\n".encode())


def test_checker_counts_lost_lines_among_the_kinds_a_logger_writes(tmp_path: Path) -> None:
    """Lines missing from a text log are lost; kinds the logger skips are not counted."""
    stream = build_stream(LINES)
    lines = [line for line in stream.data.split(b"\r\n") if line.startswith(b":")]
    dropped = {5, 77}
    joins = {i for i in range(LINES) if stream.kinds[i] == JOIN}
    kept = [
        b"[12:00:00] " + line for i, line in enumerate(lines) if i not in dropped and i not in joins
    ]
    log = tmp_path / "out.log"
    log.write_bytes(b"\n".join(kept) + b"\n")

    counter = TokenCounter(stream.lines)
    TextWatcher(str(log), []).count(counter)
    without_joins = counter.check(stream, ALL_KINDS - {JOIN})
    assert without_joins.lost == len(dropped - joins)
    assert set(without_joins.lost_sample) == dropped - joins
    everything = counter.check(stream, ALL_KINDS)
    assert everything.lost == len(dropped | joins)
    assert everything.duplicated == 0

    counter.add_text(b"[12:00:01] <x> again " + token(3).encode() + b"\n")
    assert counter.check(stream, {PRIVMSG, PART, QUIT, NICK}).duplicated == 1


def test_text_watcher_sees_checkpoints_as_the_file_grows(tmp_path: Path) -> None:
    """A checkpoint token split across two reads is still found."""
    log = tmp_path / "grow.log"
    watcher = TextWatcher(str(log), [42])
    watcher.poll()
    assert watcher.seen == {}
    log.write_bytes(b"<a> hi tok0000")
    watcher.poll()
    assert watcher.seen == {}
    with log.open("ab") as fh:
        fh.write(b"00042\n")
    watcher.poll()
    assert set(watcher.seen) == {42}


def test_irclogbot_patch_changes_only_the_connect_line() -> None:
    """The example's hard-coded server becomes argv host and port; anything else is refused."""
    source = 'x = 1\n    reactor.connectTCP("irc.freenode.net", 6667, f)\n'
    assert patch_irclogbot(source) == (
        "x = 1\n    reactor.connectTCP(sys.argv[3], int(sys.argv[4]), f)\n"
    )
    with pytest.raises(ValueError, match="connectTCP"):
        patch_irclogbot("reactor.connectTCP(host, port, f)\n")


def test_target_lines_say_whether_each_logbot_contender_met_its_targets() -> None:
    """The ratio lines name the figure, its target, and whether all were met."""
    from bench.ingest import Result, target_lines

    def result(name: str, ratio: float, rss: float, lag: float | None) -> Result:
        r = Result(name, name, status="ok", ratio_to_znc=ratio, peak_rss_mb=rss, lost=0)
        r.searchable_lag_max_s = lag
        return r

    lines = target_lines(
        [
            result("znc", 1.0, 16.0, None),
            result("logbot-sqlite", 2.1, 58.0, 0.5),
            result("logbot-text", 4.0, 52.0, None),
        ]
    )
    assert lines == [
        "logbot-sqlite: 2.10x ZNC (target >= 2.0), peak RSS 58.0 MB (target <= 60), "
        "searchable after 0.50 s (target <= 1.0), lost 0: met",
        "logbot-text: 4.00x ZNC, peak RSS 52.0 MB (target <= 50), lost 0: NOT met",
    ]
