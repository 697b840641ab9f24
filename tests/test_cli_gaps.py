"""`logbot gaps`: the holes in the record, as text for people and JSON for programs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner

from logbot.cli import main
from logbot.events import GAP_DISCONNECTED, GAP_KICKED, Event, Kind
from logbot.storage import migrate
from logbot.storage.engine import make_engine
from logbot.storage.rows import KeyAllocator, event_row
from logbot.storage.writer import EventWriter

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC here (POSIX TZ: no tzdata needed), and restored afterwards."""
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "logbot.sqlite")
    engine = make_engine(path)
    keys = KeyAllocator()
    events = [
        Event(T0, "net", "#x", Kind.GAP_START, "", GAP_DISCONNECTED),
        Event(T0 + timedelta(minutes=5), "net", "#x", Kind.GAP_END, ""),
        Event(T0 + timedelta(days=1), "net", "#y", Kind.GAP_START, "", GAP_KICKED),
    ]
    writer = EventWriter(engine)
    writer.write([event_row(e, keys.key_for(e.time)) for e in events])
    writer.close()
    engine.dispose()
    return path


def test_gaps_lists_each_hole_with_its_times_and_reason(db: str) -> None:
    """Text: local time, the end on the same day as a time only, the length; open ones end now."""
    result = CliRunner().invoke(main, ["gaps", "--db", db])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2026-05-01 12:00:00 to 12:05:00 (5m) net #x: disconnected"
    assert lines[1].startswith("2026-05-02 12:00:00 to now (")
    assert lines[1].endswith(" net #y: kicked")


def test_gaps_json_is_one_object_per_line_in_utc(db: str) -> None:
    """JSON: network, channel, start, end (null while open), reason."""
    result = CliRunner().invoke(main, ["gaps", "--db", db, "--format", "json", "--channel", "#X"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [
        {
            "network": "net",
            "channel": "#x",
            "start": "2026-05-01T12:00:00+00:00",
            "end": "2026-05-01T12:05:00+00:00",
            "reason": "disconnected",
        }
    ]


def test_gaps_filters_by_time_and_says_nothing_found_with_status_1(db: str) -> None:
    """--since/--until pick the gaps overlapping the window; none found is exit status 1."""
    runner = CliRunner()
    result = runner.invoke(main, ["gaps", "--db", db, "--since", "2026-05-01T12:05:00+00:00"])
    assert [line.split(" net ")[1] for line in result.output.splitlines()] == ["#y: kicked"]
    result = runner.invoke(main, ["gaps", "--db", db, "--network", "other"])
    assert (result.exit_code, result.output) == (1, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "not a date"], "not a date"),
        (["--since", "2026-05-02", "--until", "2026-05-01"], "is not before --until"),
    ],
)
def test_gaps_usage_errors_are_one_line_and_status_2(
    db: str, args: list[str], message: str
) -> None:
    """A bad date or an empty window is said in one line, exit status 2, no traceback."""
    result = CliRunner().invoke(main, ["gaps", "--db", db, *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_gaps_never_creates_a_database_and_explains_an_old_one(tmp_path: Path) -> None:
    """A missing file is an error, not an empty archive; a schema before 0003 asks for upgrade."""
    missing = tmp_path / "none.sqlite"
    result = CliRunner().invoke(main, ["gaps", "--db", str(missing)])
    assert result.exit_code == 2
    assert not missing.exists()
    old = tmp_path / "old.sqlite"
    engine = make_engine(str(old))
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0002")
    engine.dispose()
    result = CliRunner().invoke(main, ["gaps", "--db", str(old)])
    assert result.exit_code == 2
    assert "logbot db upgrade" in result.output
