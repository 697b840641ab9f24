"""``logbot forget`` and retention (``logbot prune``, :mod:`logbot.storage.forget`) on SQLite
and on the real PostgreSQL: what is deleted is gone from search, export and the full-text
index; nothing else is touched; a dry run deletes nothing; retention keeps exactly the last
N local days across a DST change.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from logbot import archive
from logbot.cli import main
from logbot.config import build_settings
from logbot.policy import retention_cutoff
from logbot.retention import prune_database
from logbot.storage.engine import make_engine
from logbot.storage.forget import delete_ids

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _line(when: datetime, nick: str, text: str, channel: str = "#x", kind: str = "message") -> str:
    return json.dumps(
        {
            "time": when.isoformat(),
            "network": "net",
            "channel": channel,
            "nick": nick,
            "kind": kind,
            "text": text,
        }
    )


def load(target: str, lines: list[str]) -> None:
    stats = archive.import_lines(
        target, [line.encode() for line in lines], bulk_allowed=False, batch_size=7
    )
    assert stats.inserted == len(lines)


def conversation() -> list[str]:
    lines = []
    for i in range(40):
        who = ("alice", "bob", "Alice")[i % 3]
        chan = "#x" if i % 2 == 0 else "#y"
        lines.append(_line(T0 + timedelta(minutes=i), who, f"{who} says pineapple {i}", chan))
    return lines


def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def exported(target: str) -> list[dict[str, str]]:
    code, out, _ = cli("export", "--db", target)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def fts_hits(target: str, word: str) -> int:
    """Rows the full-text index itself says hold ``word`` (not through the search planner)."""
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql(
                    "INSERT INTO events_fts(events_fts, rank) VALUES ('integrity-check', 1)"
                )
                sql = "SELECT count(*) FROM events_fts WHERE events_fts MATCH ?"
                return int(conn.exec_driver_sql(sql, (word,)).scalar_one())
            from logbot.storage.fts import pg_query_text, pg_tsquery, pg_tsvector

            sql = (
                f"SELECT count(*) FROM events AS e WHERE {pg_tsvector('e')} "
                f"@@ {pg_tsquery('%(w)s')}"
            )
            return int(conn.exec_driver_sql(sql, {"w": pg_query_text(word)}).scalar_one())
    finally:
        engine.dispose()


def test_forget_a_nick_removes_it_from_search_export_and_the_index(db_target: str) -> None:
    """alice's lines (any case) are gone everywhere; bob's are all still there."""
    load(db_target, conversation())
    before = exported(db_target)
    code, out, err = cli("forget", "--db", db_target, "--nick", "alice", "--yes")
    assert code == 0, err
    gone = [e for e in before if e["nick"].lower() == "alice"]
    assert out.strip().endswith(f"deleted {len(gone)} events from {out.split(' from ')[1].strip()}")
    assert exported(db_target) == [e for e in before if e["nick"].lower() != "alice"]
    code, out, _ = cli("search", "--db", db_target, "alice", "--limit", "0")
    assert (code, out) == (1, "")
    assert fts_hits(db_target, "alice") == 0
    assert fts_hits(db_target, "bob") == len(before) - len(gone)


def test_forget_deletes_no_more_than_the_filters_name(db_target: str) -> None:
    """--nick, --channel, --since and --query together: only their intersection goes."""
    load(db_target, conversation())
    before = exported(db_target)
    since = (T0 + timedelta(minutes=10)).isoformat()
    code, _, err = cli(
        "forget", "--db", db_target, "--nick", "alice", "--channel", "#x", "--since", since,
        "--query", "pineapple -12", "--yes",
    )  # fmt: skip
    assert code == 0, err
    after = exported(db_target)

    def doomed(e: dict[str, str]) -> bool:
        return (
            e["nick"].lower() == "alice"
            and e["channel"] == "#x"
            and e["time"] >= since
            and not e["text"].endswith(" 12")
        )

    assert after == [e for e in before if not doomed(e)]
    assert len(before) - len(after) == sum(map(doomed, before)) > 0


def test_dry_run_deletes_nothing_and_says_how_many(db_target: str) -> None:
    load(db_target, conversation())
    before = exported(db_target)
    code, out, _ = cli("forget", "--db", db_target, "--nick", "bob", "--dry-run")
    assert code == 0
    assert "would delete 13 events" in out
    assert "(dry run)" in out
    assert exported(db_target) == before


def test_forget_without_any_filter_is_refused(tmp_path: Path) -> None:
    target = str(tmp_path / "db.sqlite")
    load(target, conversation())
    code, _, err = cli("forget", "--db", target, "--yes")
    assert code == 2
    assert err.startswith("Error: forget needs at least one filter")
    assert len(err.splitlines()) == 1
    assert len(exported(target)) == 40


def test_forget_without_a_terminal_needs_yes(tmp_path: Path) -> None:
    """No terminal to confirm on and no --yes: one line, exit 2, nothing deleted."""
    target = str(tmp_path / "db.sqlite")
    load(target, conversation())
    code, _, err = cli("forget", "--db", target, "--nick", "bob", stdin="y\n")
    assert (code, err) == (
        2,
        "Error: forget would delete 13 events: confirm with --yes (no terminal to ask on)\n",
    )
    assert len(exported(target)) == 40


@pytest.mark.parametrize(("answer", "left"), [("y\n", 27), ("n\n", 40), ("\n", 40)])
def test_forget_on_a_terminal_asks_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, left: int
) -> None:
    """Yes deletes; no, or just Enter, deletes nothing."""
    import logbot.cli.maintenance

    monkeypatch.setattr(logbot.cli.maintenance, "_terminal", lambda: True)
    target = str(tmp_path / "db.sqlite")
    load(target, conversation())
    code, out, _ = cli("forget", "--db", target, "--nick", "bob", stdin=answer)
    assert code == 0
    assert out.startswith(f"Delete 13 events from {target}? [y/N]: ")
    assert len(exported(target)) == left


def test_forget_a_bad_query_is_a_usage_error(tmp_path: Path) -> None:
    target = str(tmp_path / "db.sqlite")
    load(target, conversation())
    code, _, err = cli("forget", "--db", target, "--query", '"unbalanced', "--yes")
    assert code == 2
    assert len(err.splitlines()) == 1
    assert len(exported(target)) == 40


def test_delete_ids_works_in_batches(engine: sa.Engine, db_target: str) -> None:
    load(db_target, conversation())
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM events ORDER BY id"))]
    assert delete_ids(engine, ids[:25], batch=4) == 25
    assert [e["text"] for e in exported(db_target)] == [
        json.loads(line)["text"] for line in conversation()[25:]
    ]


# --- retention ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "days", "cutoff"),
    [
        # spring forward (Sunday 2026-03-29): the first kept day, Mar 27, is still CET
        (datetime(2026, 4, 2, 10, 0, tzinfo=UTC), 7, datetime(2026, 3, 26, 23, 0, tzinfo=UTC)),
        # the first kept day is the 23-hour day itself: its midnight is CET
        (datetime(2026, 4, 2, 10, 0, tzinfo=UTC), 5, datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
        (datetime(2026, 4, 2, 10, 0, tzinfo=UTC), 4, datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
        # fall back (Sunday 2026-10-25): its midnight is still CEST
        (datetime(2026, 10, 27, 9, 0, tzinfo=UTC), 3, datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),
        (datetime(2026, 10, 27, 9, 0, tzinfo=UTC), 2, datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
        # just after local midnight, UTC still says yesterday: today is the local day
        (datetime(2026, 7, 1, 22, 30, tzinfo=UTC), 1, datetime(2026, 7, 1, 22, 0, tzinfo=UTC)),
    ],
)
def test_retention_cutoff_is_local_midnight_n_minus_1_days_before_today(
    now: datetime, days: int, cutoff: datetime
) -> None:
    assert retention_cutoff(days, now, BERLIN) == cutoff


def _retention_config(tmp_path: Path, db: str) -> Path:
    config = tmp_path / "logbot.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            db = "{db}"
            retention_days = 7
            [[network]]
            name = "net"
            server = "irc.example.net"
            channels = ["#y"]
            [[network.channel]]
            name = "#x"
            retention_days = 3
            announce = "logged"
            """
        )
    )
    return config


def hourly(start: datetime, end: datetime, channel: str) -> list[str]:
    lines = []
    when = start
    while when < end:
        lines.append(_line(when, "alice", f"at {when.isoformat()}", channel))
        when += timedelta(hours=1)
    return lines


def test_retention_keeps_exactly_the_last_n_local_days_across_dst(
    db_target: str, tmp_path: Path
) -> None:
    """Hourly lines over the spring DST change: #x keeps 3 local days, #y 7; dry run first."""
    now = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)  # 11:30 CEST
    start = datetime(2026, 3, 20, 0, 0, tzinfo=UTC)
    load(db_target, hourly(start, now, "#x") + hourly(start, now, "#y"))
    settings = build_settings({}, str(_retention_config(tmp_path, db_target)), {})
    before = exported(db_target)

    dry = prune_database(db_target, settings, now, BERLIN, dry_run=True)
    assert exported(db_target) == before
    result = prune_database(db_target, settings, now, BERLIN)
    assert result.per_channel == dry.per_channel
    kept = exported(db_target)
    assert len(before) - len(kept) == result.total

    for channel, days, first in (("#x", 3, "2026-03-30"), ("#y", 7, "2026-03-26")):
        local = [
            datetime.fromisoformat(e["time"]).astimezone(BERLIN)
            for e in kept
            if e["channel"] == channel
        ]
        assert len({t.date() for t in local}) == days
        assert local[0].isoformat() == f"{first}T00:00:00+0{1 if channel == '#y' else 2}:00"
        gone = [e for e in before if e["channel"] == channel and e not in kept]
        assert datetime.fromisoformat(gone[-1]["time"]) == datetime.fromisoformat(
            local[0].isoformat()
        ) - timedelta(hours=1)
        assert result.per_channel[("net", channel)] == len(gone)


def test_prune_command_dry_run_then_for_real(tmp_path: Path) -> None:
    target = str(tmp_path / "db.sqlite")
    old = datetime.now(UTC) - timedelta(days=30)
    fresh = _line(datetime.now(UTC) - timedelta(minutes=1), "bob", "fresh", "#x")
    load(target, [*hourly(old, old + timedelta(hours=5), "#x"), fresh])
    config = _retention_config(tmp_path, target)
    code, out, err = cli("prune", "--config", str(config), "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "net #x: 5",
        "logbot: would delete 5 events older than their channel's retention_days (dry run)",
    ]
    assert len(exported(target)) == 6
    code, out, err = cli("--config", str(config), "prune")
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "logbot: deleted 5 events older than their channel's retention_days"
    )
    assert [e["text"] for e in exported(target)] == ["fresh"]
