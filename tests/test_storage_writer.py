"""The blocking writer: rows, keys, channels, replays and broken connections, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from logbot.events import Event, Kind
from logbot.storage import migrate
from logbot.storage.engine import make_engine
from logbot.storage.rows import KeyAllocator, event_row, storable_time
from logbot.storage.schema import KEY_SPREAD, key_time, time_key
from logbot.storage.writer import EventWriter, WriteFailed
from tests.conftest import fts_documents

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def ev(text: str = "hi", **kw: object) -> Event:
    fields: dict[str, object] = {
        "time": T0,
        "network": "net",
        "channel": "#x",
        "kind": Kind.MESSAGE,
        "nick": "alice",
        "text": text,
    }
    fields.update(kw)
    return Event(**fields)  # type: ignore[arg-type]


def count(engine: sa.Engine, sql: str = "SELECT count(*) FROM events") -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_event_row_fits_the_columns_and_drops_nul() -> None:
    """Over-long fields are cut to the column sizes; NUL (which PostgreSQL refuses) is replaced."""
    row = event_row(ev("a\x00b", nick="n" * 150, userhost="u" * 400, target=""), 7)
    assert row[0] == 7
    assert row[4] == "n" * 100
    assert row[5] == "a\ufffdb"
    assert row[6] is None
    assert row[7] == "u" * 300


def test_absurd_server_time_is_stored_at_the_receive_time() -> None:
    """A server-time beyond what a key can hold falls back to when the bot received it."""
    far = datetime(9999, 1, 1, tzinfo=UTC)
    assert storable_time(ev(time=far, received=T0)) == T0
    assert storable_time(ev(time=T0)) == T0


def test_key_allocator_gives_distinct_keys_in_arrival_order() -> None:
    """Events of one microsecond get consecutive keys; past 1,000 they spill forward, in order."""
    alloc = KeyAllocator(memory=5000)
    keys = [alloc.key_for(T0) for _ in range(KEY_SPREAD + 5)]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert keys[0] == time_key(T0)
    assert key_time(keys[-1]) == T0 + timedelta(microseconds=1)
    # a later event of the next microsecond still gets a free key after the spill
    nxt = alloc.key_for(T0 + timedelta(microseconds=1))
    assert nxt not in keys


def test_channels_are_matched_irc_case_insensitively(engine: sa.Engine) -> None:
    """#Foo[ and #foo{ are one channel (RFC 1459 casemapping), named as first seen."""
    writer = EventWriter(engine, upgrade=False)
    alloc = KeyAllocator()
    writer.write([event_row(ev(channel="#Foo["), alloc.key_for(T0))])
    writer.write([event_row(ev(channel="#foo{"), alloc.key_for(T0))])
    writer.close()
    with engine.connect() as conn:
        channels = conn.execute(sa.text("SELECT name, name_key FROM channels")).all()
    assert [tuple(c) for c in channels] == [("#Foo[", "#foo{")]
    assert count(engine) == 2


def _recreate_tables(engine: sa.Engine, *channels: str) -> None:
    """What another process does to the database under a running writer: every table
    dropped, the schema created again, and ``channels`` added first (taking the ids)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        else:
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'events_fts_%'"
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for name in channels:
            conn.execute(
                sa.text("INSERT INTO channels (network, name, name_key) VALUES ('net', :n, :n)"),
                {"n": name},
            )


def _stored_channels(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT e.text, c.name FROM events e JOIN channels c ON c.id = e.channel_id")
        ).all()
    return sorted((r[0], r[1]) for r in rows)


@pytest.mark.parametrize(
    "db_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("taken_by", [(), ("#other",)], ids=["empty", "id-taken"])
def test_a_database_recreated_under_the_writer_gets_its_channels_again(
    engine: sa.Engine, taken_by: tuple[str, ...]
) -> None:
    """PostgreSQL: tables dropped and created again by someone else, so the channel id the
    writer cached names nothing (or, id-taken, another channel: a foreign key could not
    tell); the batch goes under a new row of its own channel, nothing lost."""
    writer = EventWriter(engine, upgrade=False)
    alloc = KeyAllocator()
    writer.write([event_row(ev("before"), alloc.key_for(T0))])
    _recreate_tables(engine, *taken_by)
    result = writer.write([event_row(ev("after"), alloc.key_for(T0))])
    writer.close()
    assert (result.inserted, result.recreated) == (1, True)
    assert _stored_channels(engine) == [("after", "#x")]


def test_writing_the_same_rows_again_adds_nothing(engine: sa.Engine) -> None:
    """A replay of committed rows is recognised row by row: exactly once."""
    writer = EventWriter(engine, upgrade=False)
    alloc = KeyAllocator()
    rows = [event_row(ev(f"line {i}"), alloc.key_for(T0)) for i in range(50)]
    assert writer.write(rows).inserted == 50
    again = writer.write([*rows[:30], event_row(ev("new"), alloc.key_for(T0))])
    writer.close()
    assert (again.inserted, again.duplicates, again.rekeyed) == (1, 30, 0)
    assert count(engine) == 51


def test_a_connection_broken_while_idle_is_replaced_without_an_error(
    engine: sa.Engine,
) -> None:
    """After a server restart the kept connection is dead: the write reconnects and succeeds."""
    writer = EventWriter(engine, upgrade=False)
    alloc = KeyAllocator()
    writer.write([event_row(ev("before"), alloc.key_for(T0))])
    if engine.dialect.name == "postgresql":
        pid = writer._conn.driver_connection.info.backend_pid
        admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.dispose()
    else:
        writer._conn.driver_connection.close()
    result = writer.write([event_row(ev("after"), alloc.key_for(T0))])
    writer.close()
    assert result.inserted == 1
    assert count(engine) == 2


def test_a_different_event_at_a_taken_key_moves_to_the_next_free_key(engine: sa.Engine) -> None:
    """Another event under a stored key is re-keyed one sequence later; nothing is lost."""
    writer = EventWriter(engine, upgrade=False)
    key = time_key(T0)
    writer.write([event_row(ev("first"), key), event_row(ev("second"), key + 1)])
    result = writer.write([event_row(ev("other"), key), event_row(ev("first"), key)])
    writer.close()
    assert (result.inserted, result.duplicates, result.rekeyed) == (1, 1, 1)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT id, text FROM events ORDER BY id")).all()
    assert [tuple(r) for r in stored] == [(key, "first"), (key + 1, "second"), (key + 2, "other")]


def test_a_refused_batch_leaves_nothing_behind_for_the_next_one(engine: sa.Engine) -> None:
    """A batch the database refuses fails as not transient; the next batch stores only its rows."""
    writer = EventWriter(engine, upgrade=False)
    alloc = KeyAllocator()
    good = event_row(ev("good"), alloc.key_for(T0))
    # a lone surrogate cannot be encoded for either database
    refused = event_row(ev("bad \ud800"), alloc.key_for(T0))
    with pytest.raises(WriteFailed) as failed:
        writer.write([good, refused])
    assert not failed.value.transient
    assert writer.write([event_row(ev("next"), alloc.key_for(T0))]).inserted == 1
    writer.close()
    assert count(engine) == 1


def test_a_writer_on_a_pooled_connection_reused_by_another_writer_still_writes(
    engine: sa.Engine,
) -> None:
    """Connections go back to the pool and come out again; every writer's batches still land."""
    alloc = KeyAllocator()
    for i in range(3):
        writer = EventWriter(engine, upgrade=False)
        rows = [event_row(ev(f"w{i} line {j}"), alloc.key_for(T0)) for j in range(1_200)]
        assert writer.write(rows).inserted == 1_200
        writer.close()
    assert count(engine) == 3_600


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgresql"], indirect=True)
def test_postgresql_batches_reuse_one_statement_text(
    db_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of any size send the same few statements, so psycopg never re-parses a query."""
    import psycopg

    eng = make_engine(db_target)
    migrate.upgrade(eng)
    sent: set[str] = set()
    execute = psycopg.Cursor.execute

    def spy(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        sent.add(str(query))
        return execute(self, query, *args, **kw)

    copy = psycopg.Cursor.copy

    def copy_spy(self: psycopg.Cursor[Any], statement: Any, *args: Any, **kw: Any) -> Any:
        sent.add(str(statement))
        return copy(self, statement, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    monkeypatch.setattr(psycopg.Cursor, "copy", copy_spy)
    writer = EventWriter(eng, upgrade=False)
    alloc = KeyAllocator()
    for size in (1, 7, 333, 1_000):
        rows = [event_row(ev(f"{size} {i}"), alloc.key_for(T0)) for i in range(size)]
        assert writer.write(rows).inserted == size
    writer.close()
    eng.dispose()
    events_sql = [q for q in sent if "INSERT INTO events" in q or "COPY events" in q]
    assert len(events_sql) == 1
    assert "%s" not in events_sql[0]


def _stored_rows(engine: sa.Engine, columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of every stored event, in key order."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {columns} FROM events ORDER BY id"))
        return [tuple(r) for r in rows]


def test_optional_columns_and_flags_are_stored_as_given(engine: sa.Engine) -> None:
    """NULL stays NULL, flags are 0/1 and set values come back exactly (target, userhost,
    the receive time, own, msgid, backfilled), whatever form the inserter binds them in."""
    writer = EventWriter(engine, upgrade=False)
    key = time_key(T0)
    full = event_row(
        ev(
            "hello",
            kind=Kind.NICK,
            target="bob",
            userhost="a@b",
            received=T0 + timedelta(seconds=2),
            own=True,
            msgid="m1",
            backfilled=True,
        ),
        key,
    )
    writer.write([full, event_row(ev("", kind=Kind.JOIN), key + 1)])
    writer.close()
    stored = _stored_rows(engine, "target, userhost, received_us, own, msgid, backfilled")
    received_us = full[9]
    assert received_us is not None
    assert stored == [
        ("bob", "a@b", received_us, True, "m1", True),
        (None, None, None, False, None, False),
    ]


def test_a_large_batch_mixing_plain_and_full_rows_is_stored_exactly(engine: sa.Engine) -> None:
    """Thousands of rows, most with every optional column at its default and some with one
    set each, interleaved: each row comes back as written and each text is found once."""
    writer = EventWriter(engine, upgrade=False)
    key = time_key(T0)
    optional: list[dict[str, object]] = [
        {"target": "bob", "kind": Kind.NICK},
        {"userhost": "u@h", "kind": Kind.JOIN},
        {"received": T0 + timedelta(seconds=1)},
        {"own": True},
        {"msgid": "m"},
        {"backfilled": True},
    ]
    rows = []
    for i in range(2_777):
        extra = optional[i % 6] if i % 7 == 0 else {}
        text = "" if extra.get("kind") is Kind.JOIN else f"word{i}"
        rows.append(event_row(ev(text, **extra), key + i))
    result = writer.write(rows)
    writer.close()
    assert result.inserted == len(rows)
    stored = _stored_rows(
        engine, "id, kind, nick, text, target, userhost, received_us, own, msgid, backfilled"
    )
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert fts_documents(conn) == sum(1 for r in rows if r[5])
    assert stored == [(r[0], r[3], r[4], r[5], r[6], r[7], r[9], r[8], r[10], r[11]) for r in rows]


def test_a_batch_among_stored_rows_is_indexed_once_for_full_text(tmp_path: Any) -> None:
    """SQLite: rows whose keys fall between stored ones (a spool replayed late, history) get
    one full-text entry each, and the stored rows keep theirs: the index stays consistent."""
    eng = make_engine(str(tmp_path / "fts.sqlite"))
    migrate.upgrade(eng)
    writer = EventWriter(eng, upgrade=False)
    key = time_key(T0)
    writer.write([event_row(ev(f"apple {i}"), key + 2 * i) for i in range(5)])
    writer.write([event_row(ev(f"pear {i}"), key + 2 * i + 1) for i in range(4)])
    writer.write([event_row(ev(f"plum {i}"), key + 100 + i) for i in range(3)])
    writer.close()
    with eng.connect() as conn:
        check = "INSERT INTO events_fts(events_fts, rank) VALUES ('integrity-check', 1)"
        conn.exec_driver_sql(check)
        sql = "SELECT count(*) FROM events_fts WHERE events_fts MATCH ?"
        hits = [conn.exec_driver_sql(sql, (w,)).scalar_one() for w in ("apple", "pear", "plum")]
        indexed = fts_documents(conn)
    eng.dispose()
    assert hits == [5, 4, 3]
    assert indexed == 12
