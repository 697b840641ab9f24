"""`logbot import` of other programs' logs: the fixtures were written by the real programs
(ZNC, WeeChat, irssi, Limnoria; HexChat from its documented format; logbot's own text log
by logbot's formatter), see tests/fixtures/import/README.md."""

from __future__ import annotations

import gzip
import sqlite3
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from logbot.archive import ImportStats
from logbot.casemap import CHANNEL_PREFIXES
from logbot.cli import main
from logbot.events import Event, Kind
from logbot.importers.sources import Report, SourceError, batches, plan
from logbot.storage.engine import make_engine
from logbot.storage.migrate import upgrade
from logbot.storage.names import KEY_SPREAD
from logbot.storage.rows import KeyAllocator, event_row
from logbot.storage.writer import EventWriter
from tests.conftest import pg_database

FIXTURES = Path(__file__).parent / "fixtures" / "import"
BERLIN = ZoneInfo("Europe/Berlin")

# (UTC time, kind, nick, text, target): the scripted traffic every logger saw (Europe/Berlin,
# the local day changes at 23:00:00 UTC)
TRAFFIC = [
    ("2026-12-04 22:59:01", "join", "bob", "", ""),
    ("2026-12-04 22:59:02", "message", "alice", "hello bob", ""),
    ("2026-12-04 22:59:03", "message", "bob", "hi alice, ça va? 日本語 ✓", ""),
    ("2026-12-04 22:59:04", "action", "bob", "waves", ""),
    ("2026-12-04 22:59:05", "notice", "alice", "a notice to the channel", ""),
    ("2026-12-04 22:59:07", "topic", "alice", "Import tests | ünïcode topic", ""),
    ("2026-12-04 22:59:08", "mode", "alice", "+v bob", ""),
    ("2026-12-04 22:59:09", "nick", "bob", "", "robert"),
    ("2026-12-04 22:59:10", "message", "robert", "<tag> [brackets] -- *stars* and a tab\there", ""),
    ("2026-12-04 23:00:00", "join", "carol", "", ""),
    ("2026-12-04 23:00:01", "part", "carol", "gone for lunch", ""),
    ("2026-12-04 23:00:02", "join", "carol", "", ""),
    ("2026-12-04 23:00:03", "kick", "alice", "no spam please", "carol"),
    ("2026-12-04 23:00:04", "mode", "alice", "+o-v robert robert", ""),
    ("2026-12-04 23:00:06", "message", "robert", "bye all", ""),
    ("2026-12-04 23:00:07", "quit", "robert", '"see you later"', ""),
    ("2026-12-04 23:00:09", "message", "alice", "done", ""),
    ("2026-12-04 23:00:10", "quit", "alice", '"end"', ""),
]
ZNC_JOIN = [
    ("2026-12-04 22:59:01", "join", "zncbot", "", ""),
    ("2026-12-04 22:59:01", "mode", "", "+t", ""),
]
WEECHAT_QUIT = [("2026-12-04 23:00:17", "quit", "weebot", '"WeeChat 3.8"', "")]
ZNC = ZNC_JOIN + TRAFFIC + WEECHAT_QUIT


def _minute(rows: list[tuple[str, str, str, str, str]]) -> list[tuple[str, str, str, str, str]]:
    return [(t[:-2] + "00", *rest) for t, *rest in rows]  # type: ignore[misc]


EXPECTED = {
    "znc": ZNC,
    "weechat": [
        ("2026-12-04 22:58:29", "join", "weebot", "", ""),
        ("2026-12-04 22:58:30", "join", "limbot", "", ""),
        ("2026-12-04 22:58:34", "join", "irssibot", "", ""),
        ("2026-12-04 22:59:01", "join", "zncbot", "", ""),
        *TRAFFIC,
    ],
    "limnoria": [
        ("2026-12-04 22:58:30", "join", "limbot", "", ""),
        ("2026-12-04 22:58:34", "join", "irssibot", "", ""),
        ("2026-12-04 22:59:01", "join", "zncbot", "", ""),
        *TRAFFIC,
        *WEECHAT_QUIT,
    ],
    # irssi's default log_timestamp is HH:MM
    "irssi": _minute(
        [
            ("2026-12-04 22:58:00", "join", "irssibot", "", ""),
            ("2026-12-04 22:59:00", "join", "zncbot", "", ""),
            *TRAFFIC,
            *WEECHAT_QUIT,
        ]
    ),
    "hexchat": [
        *(e for e in TRAFFIC[:8]),
        ("2026-12-04 23:00:00", "join", "carol", "", ""),
        ("2026-12-04 23:00:01", "part", "carol", "gone for lunch", ""),
        ("2026-12-04 23:00:03", "kick", "alice", "no spam please", "carol"),
        ("2026-12-04 23:00:04", "mode", "alice", "+t", ""),
        ("2026-12-04 23:00:07", "quit", "robert", '"see you later"', ""),
        # no year in the stamps: December runs into January
        ("2026-12-31 22:59:58", "message", "alice", "happy new year", ""),
        ("2026-12-31 23:00:02", "message", "bob", "and to you", ""),
    ],
    # logbot's text log shows a tab as the control picture U+2409
    "irclogbot": [(t, k, n, x.replace("\t", "\u2409"), g) for t, k, n, x, g in ZNC],
}


def events_of(
    paths: list[Path], tz: ZoneInfo = BERLIN, **overrides: str
) -> tuple[list[tuple[str, ...]], Report]:
    found = plan([str(p) for p in paths], **overrides)  # type: ignore[arg-type]
    report = Report()
    out: list[tuple[str, ...]] = []
    for batch in batches(found.sources, tz, report, ImportStats()):
        for row in batch.rows:
            when = datetime.fromtimestamp(row[0] // KEY_SPREAD // 1_000_000, UTC)
            out.append((when.strftime("%Y-%m-%d %H:%M:%S"), row[3], row[4], row[5], row[6] or ""))
    return out, report


def run(*args: str, tz: str = "Europe/Berlin") -> Result:
    return CliRunner().invoke(main, ["import", *args], env={"TZ": tz})


def stored(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT e.id, c.network, c.name, e.kind, e.nick, e.text, e.target FROM events e "
            "JOIN channels c ON c.id = e.channel_id ORDER BY e.id"
        ).fetchall()


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_each_format_reads_the_real_programs_log_exactly(fmt: str) -> None:
    """Every line of the fixture is an exact event: UTC time, kind, nick, text, target."""
    extra = {"channel": "#imp"} if fmt == "irclogbot" else {}
    events, report = events_of([FIXTURES / fmt], **extra)
    assert events == EXPECTED[fmt]
    assert report.events == len(EXPECTED[fmt])
    # the one line of the HexChat sample that no rule knows is counted, and only it
    assert report.unparsed == (1 if fmt == "hexchat" else 0)


def test_auto_detection_recognises_each_program_by_content_and_path() -> None:
    found = plan([str(FIXTURES)])
    seen = {
        str(s.path.relative_to(FIXTURES)): (s.format, s.network, s.channel, str(s.day))
        for s in found.sources
    }
    assert seen == {
        "hexchat/testnet/#imp.log": ("hexchat", "testnet", "#imp", "None"),
        "irclogbot/log.txt": ("irclogbot", "", "", "None"),
        "irssi/irclogs/testnet/#imp.log": ("irssi", "testnet", "#imp", "None"),
        "limnoria/logs/ChannelLogger/testnet/#imp/#imp.2026-12-04.log": (
            "limnoria",
            "testnet",
            "#imp",
            "2026-12-04",
        ),
        "limnoria/logs/ChannelLogger/testnet/#imp/#imp.2026-12-05.log": (
            "limnoria",
            "testnet",
            "#imp",
            "2026-12-05",
        ),
        "weechat/logs/irc.testnet.#imp.weechatlog": ("weechat", "testnet", "#imp", "None"),
        "znc/moddata/log/testnet/#imp/2026-12-04.log": ("znc", "testnet", "#imp", "2026-12-04"),
        "znc/moddata/log/testnet/#imp/2026-12-05.log": ("znc", "testnet", "#imp", "2026-12-05"),
    }
    # the scripts and configurations that made the fixtures are no logs: skipped, named
    assert {p.name for p, _why in found.ignored} >= {"traffic.py", "znc.conf"}


def test_network_and_channel_options_override_the_path() -> None:
    found = plan([str(FIXTURES / "znc")], network="libera", channel="#other")
    assert {(s.network, s.channel) for s in found.sources} == {("libera", "#other")}


def test_a_named_file_of_no_known_format_is_a_usage_error(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("just some notes\n")
    with pytest.raises(SourceError, match="not a log format"):
        plan([str(odd)])


def _znc_day(tmp_path: Path, day: str, lines: list[str]) -> Path:
    path = tmp_path / "net" / "#c" / f"{day}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"[{t}] <n> {t}\n" for t in lines))
    return path


def test_tz_repeated_hour_reads_the_second_pass_with_the_later_offset(tmp_path: Path) -> None:
    """Europe/Berlin 2026-10-25: 02:00-03:00 happens twice; the log's clock running back
    marks the second pass."""
    clock = ["01:59:59", "02:30:00", "02:59:59", "02:00:00", "02:30:00", "03:00:00"]
    path = _znc_day(tmp_path, "2026-10-25", clock)
    events, _ = events_of([path])
    assert [e[0][11:] for e in events] == [
        "23:59:59",  # CEST, +2
        "00:30:00",
        "00:59:59",
        "01:00:00",  # CET, +1: the second 02:00
        "01:30:00",
        "02:00:00",
    ]


def test_tz_gap_time_is_read_with_the_offset_before_the_change(tmp_path: Path) -> None:
    """Europe/Berlin 2026-03-29: 02:00-03:00 does not exist; such a stamp is read as CET."""
    path = _znc_day(tmp_path, "2026-03-29", ["01:59:00", "02:30:00", "03:00:00"])
    events, _ = events_of([path])
    assert [e[0][11:] for e in events] == ["00:59:00", "01:30:00", "01:00:00"]


def test_tz_option_names_the_logging_machines_zone(tmp_path: Path) -> None:
    path = _znc_day(tmp_path, "2026-07-01", ["12:00:00"])
    db = tmp_path / "db.sqlite"
    assert run("--db", str(db), "--tz", "America/New_York", str(path)).exit_code == 0
    key = stored(db)[0][0]
    assert isinstance(key, int)
    assert datetime.fromtimestamp(key // KEY_SPREAD / 1e6, UTC).hour == 16  # EDT, -4


def test_lines_nobody_understands_are_counted_and_named(tmp_path: Path) -> None:
    path = _znc_day(tmp_path, "2026-01-01", ["10:00:00"])
    with path.open("a") as f:
        f.write("garbage one\n[10:00:01] <n> fine\nmore garbage\n")
    result = run("--db", str(tmp_path / "db.sqlite"), str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"logbot: imported 2 events (4 lines read); 2 lines not understood: {path}:2, {path}:4"
    ]


def test_import_of_the_fixtures_into_sqlite_and_again_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    first = run("--db", str(db), str(FIXTURES / "znc"))
    assert first.exit_code == 0, first.output
    assert first.stderr == "logbot: imported 21 events (21 lines read from 2 files)\n"
    rows = stored(db)
    assert [(r[1], r[2], r[3], r[4], r[5], r[6] or "") for r in rows[:4]] == [
        ("testnet", "#imp", "join", "zncbot", "", ""),
        ("testnet", "#imp", "mode", "", "+t", ""),
        ("testnet", "#imp", "join", "bob", "", ""),
        ("testnet", "#imp", "message", "alice", "hello bob", ""),
    ]
    # lines of one second keep their order in consecutive keys
    assert rows[1][0] == rows[0][0] + 1  # type: ignore[operator]
    second = run("--db", str(db), str(FIXTURES / "znc"))
    assert second.exit_code == 0
    assert second.stderr == (
        "logbot: imported 0 events, 21 already present (21 lines read from 2 files)\n"
    )
    assert stored(db) == rows


def test_znc_log_of_a_day_logged_live_adds_nothing_twice(tmp_path: Path) -> None:
    """Live events carry microseconds, ZNC's lines seconds: same second, channel, kind,
    nick and text is the same event."""
    db = tmp_path / "db.sqlite"
    engine = make_engine(str(db))
    upgrade(engine)
    keys = KeyAllocator()
    live = []
    for when, kind, nick, text, target in ZNC:
        t = datetime.fromisoformat(when).replace(tzinfo=UTC, microsecond=345_678)
        event = Event(t, "testnet", "#imp", Kind(kind), nick, text, target, "x@y")
        live.append(event_row(event, keys.key_for(t)))
    writer = EventWriter(engine)
    writer.write(live)
    writer.close()
    engine.dispose()
    before = stored(db)
    result = run("--db", str(db), str(FIXTURES / "znc"))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "logbot: imported 0 events, 21 already present (21 lines read from 2 files)\n"
    )
    assert stored(db) == before
    # and what the live bot did not see is added: the irssi log has irssibot's join
    irssi = run("--db", str(db), str(FIXTURES / "irssi"))
    assert "imported 1 events, 20 already present" in irssi.stderr


def test_two_programs_logs_of_one_channel_in_one_import_store_each_event_once(
    tmp_path: Path,
) -> None:
    """Into an empty database too: Limnoria's and ZNC's logs of the same traffic."""
    db = tmp_path / "db.sqlite"
    result = run("--db", str(db), str(FIXTURES / "limnoria"), str(FIXTURES / "znc"))
    assert result.exit_code == 0, result.output
    # ZNC adds only what Limnoria did not log: the server's +t
    assert result.stderr.startswith("logbot: imported 23 events, 20 already present ")
    assert len(stored(db)) == 23
    # and the irssi log (to the minute) adds only irssibot's join... which both had
    again = run("--db", str(db), str(FIXTURES / "irssi"))
    assert again.stderr.startswith("logbot: imported 0 events, 21 already present ")


def test_a_line_said_twice_in_one_second_is_kept_twice(tmp_path: Path) -> None:
    path = tmp_path / "net" / "#c" / "2026-01-01.log"
    path.parent.mkdir(parents=True)
    path.write_text("[10:00:00] <n> ok\n[10:00:00] <n> ok\n")
    db = tmp_path / "db.sqlite"
    assert "imported 2 events" in run("--db", str(db), str(path)).stderr
    assert "imported 0 events, 2 already present" in run("--db", str(db), str(path)).stderr


def test_gzipped_logs_are_read_as_they_are(tmp_path: Path) -> None:
    target = tmp_path / "moddata" / "log" / "testnet" / "#imp"
    target.mkdir(parents=True)
    for src in sorted((FIXTURES / "znc" / "moddata" / "log" / "testnet" / "#imp").iterdir()):
        with gzip.open(target / (src.name + ".gz"), "wb") as f:
            f.write(src.read_bytes())
    events, _ = events_of([tmp_path])
    assert events == ZNC


def test_exit_status_1_when_nothing_was_importable(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_text("nothing to see\n")
    result = run("--db", str(tmp_path / "db.sqlite"), str(tmp_path / "dir"))
    assert result.exit_code == 1
    assert "imported 0 events" in result.stderr
    assert "notes.txt" in result.stderr
    garbage = _znc_day(tmp_path, "2026-01-01", [])
    garbage.write_text("not a znc line\n")
    forced = run("--db", str(tmp_path / "db.sqlite"), "--format", "znc", str(garbage))
    assert forced.exit_code == 1
    assert f"1 lines not understood: {garbage}:1" in forced.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["/nonexistent/logs"], "no such file or directory"),
        (["--tz", "Mars/Olympus", str(FIXTURES / "znc")], "unknown time zone"),
        (["--format", "mirc", str(FIXTURES / "znc")], "--format"),
        (["-", str(FIXTURES / "znc")], "cannot be mixed"),
        ([str(FIXTURES / "generate" / "znc.conf")], "not a log format"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = run("--db", str(tmp_path / "db.sqlite"), *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert fragment in lines[-1]


def test_one_channel_text_log_names_no_channel_unless_told(tmp_path: Path) -> None:
    log = FIXTURES / "irclogbot" / "log.txt"
    result = run("--db", str(tmp_path / "a.sqlite"), str(log))
    assert result.exit_code == 1
    assert "(21 name no channel: give --channel)" in result.stderr
    ok = run("--db", str(tmp_path / "b.sqlite"), "--channel", "#imp", str(log))
    assert ok.exit_code == 0
    assert "imported 21 events" in ok.stderr


def test_multi_channel_text_log_reads_every_channel_prefix(tmp_path: Path) -> None:
    """A channel named with any prefix logbot knows (casemap.CHANNEL_PREFIXES) is read."""
    log = tmp_path / "multi.log"
    lines = ["[12:00:00] --- Log opened Fri Dec 04 2026"]
    lines += [f"[12:00:0{i}] {p}chan <alice> hi {i}" for i, p in enumerate(CHANNEL_PREFIXES, 1)]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = plan([str(log)], "irclogbot", network="net")
    rows = [row for b in batches(found.sources, UTC, Report(), ImportStats()) for row in b.rows]
    assert [(row[2], row[5]) for row in rows] == [
        (f"{p}chan", f"hi {i}") for i, p in enumerate(CHANNEL_PREFIXES, 1)
    ]


def test_reading_streams_memory_stays_flat_whatever_the_size_of_the_input(
    tmp_path: Path,
) -> None:
    """Reading 8x the lines peaks at about the same memory: one batch at a time.

    (The database side is measured end to end by bench/import_formats.py.)"""

    def peak(lines: int) -> int:
        day = tmp_path / str(lines) / "net" / "#c"
        day.mkdir(parents=True)
        per_file = 20_000
        for n in range(lines // per_file):
            with (day / f"2026-01-{n + 1:02d}.log").open("w") as f:
                for i in range(per_file):
                    s = i % 86_400
                    f.write(
                        f"[{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}] <n{i % 50}> l {i}\n"
                    )
        found = plan([str(day.parent)])
        tracemalloc.start()
        try:
            count = sum(len(b.rows) for b in batches(found.sources, UTC, Report(), ImportStats()))
            assert count == lines
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(40_000), peak(320_000)
    assert large < small * 1.3, (small, large)


@pytest.fixture
def pg_db(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own on the test server."""
    with pg_database(pg_server_url, "logbot_imp") as url:
        yield url


@pytest.mark.postgres
def test_postgresql_import_of_the_fixtures_twice_adds_nothing(pg_db: str) -> None:
    """The second-resolution comparison with what is stored works on PostgreSQL too."""
    first = run("--db", pg_db, str(FIXTURES / "znc"))
    assert first.stderr == "logbot: imported 21 events (21 lines read from 2 files)\n"
    again = run("--db", pg_db, str(FIXTURES / "znc"), str(FIXTURES / "limnoria"))
    assert again.exit_code == 0, again.output
    # Limnoria's log adds its own two joins; everything else is there already
    assert again.stderr.startswith("logbot: imported 2 events, 41 already present ")
