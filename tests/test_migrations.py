"""Schema creation and migration: empty databases, old ones, newer ones, and the wheel."""

from __future__ import annotations

import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from logbot.storage import fts, migrate, schema
from logbot.storage.engine import StorageError, make_engine
from logbot.storage.names import FK_EVENTS_CHANNEL

# what a writer runs to index one event on SQLite (revision 0001 has no insert trigger)
_SQLITE_FTS_INSERT = "INSERT INTO events_fts(rowid, text) VALUES (?, ?)"

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def engine(db_target: str) -> Iterator[sa.Engine]:
    """Overrides conftest's: these tests start from a database with no schema at all."""
    eng = make_engine(db_target)
    yield eng
    eng.dispose()


def _alembic(engine: sa.Engine, verb: str, revision: str) -> None:
    with engine.begin() as conn:
        getattr(command, verb)(migrate.alembic_config(conn), revision)


def _fts_objects(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars()
        else:
            # an index counts with its definition: created and migrated must agree on it
            rows = conn.exec_driver_sql(
                "SELECT indexname || ' ' || indexdef FROM pg_indexes "
                "WHERE tablename = 'events' UNION ALL SELECT cfgname FROM pg_ts_config "
                "UNION ALL SELECT column_name || ' ' || data_type FROM information_schema.columns "
                "WHERE table_name = 'events' AND table_schema = current_schema()"
            ).scalars()
        return {name for name in rows if fts.is_fts_object(name.split(" ")[0])}


def _fts_settings(engine: sa.Engine) -> set[tuple[object, ...]]:
    if engine.dialect.name != "sqlite":
        return set()
    with engine.connect() as conn:
        return {tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {fts.FTS_TABLE}_config")}


# PostgreSQL before revision 0006: the expression the GIN index was on (0002's; 0001's
# lacked the translate, which only makes it find more)
_PG_OLD_MATCH = (
    "to_tsvector('logbot_text'::regconfig, translate(text, E'!\"#$\\x25&\\x27()*+,-./:;<=>?@"
    "[\\x5c]^_`{|}~', '" + " " * 32 + "')) @@ plainto_tsquery('logbot_text'::regconfig, :q)"
)


def _search(conn: sa.Connection, word: str, *, old: bool = True) -> list[int]:
    """Ids of the rows holding ``word``; PostgreSQL: ``old`` asks as revisions before 0006
    did, else through the tsvector column."""
    if conn.dialect.name == "sqlite":
        sql = f"SELECT rowid FROM {fts.FTS_TABLE} WHERE {fts.FTS_TABLE} MATCH :q ORDER BY rowid"
    elif old:
        sql = f"SELECT id FROM events WHERE {_PG_OLD_MATCH} ORDER BY id"
    else:
        match = f"{fts.pg_tsvector()} @@ {fts.pg_tsquery(':q')}"
        sql = f"SELECT id FROM events WHERE {match} ORDER BY id"
        word = fts.pg_query_text(word)
    return list(conn.execute(sa.text(sql), {"q": word}).scalars())


def test_empty_database_is_created_and_stamped_at_head(engine: sa.Engine) -> None:
    """upgrade() on an empty database creates every table and the full-text index, at head."""
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert {"channels", "events", "alembic_version"} <= tables
    assert _fts_objects(engine)


def test_new_database_gets_the_version_table_alembic_itself_makes(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """The stamp written without Alembic matches `alembic stamp`'s table, column and key."""
    migrate.upgrade(engine)
    mine = sa.inspect(engine)
    ours = (mine.get_columns("alembic_version"), mine.get_pk_constraint("alembic_version"))
    ours_rows = migrate.current_revision(engine)
    if engine.dialect.name == "sqlite":
        other = make_engine(str(tmp_path / "stamped.sqlite"))
    else:
        other = engine
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
    with other.begin() as conn:
        command.stamp(migrate.alembic_config(conn), "head")
    theirs = sa.inspect(other)
    assert [(c["name"], str(c["type"]), c["nullable"]) for c in ours[0]] == [
        (c["name"], str(c["type"]), c["nullable"]) for c in theirs.get_columns("alembic_version")
    ]
    assert (
        ours[1]["constrained_columns"]
        == theirs.get_pk_constraint("alembic_version")["constrained_columns"]
    )
    assert ours_rows == migrate.current_revision(other) == migrate.head_revision()
    if other is not engine:
        other.dispose()


def test_creating_a_new_database_does_not_load_alembic(tmp_path: Path) -> None:
    """The bot's first start creates its database without importing Alembic (~10 MB)."""
    code = (
        "import sys; from logbot.storage import migrate; "
        "from logbot.storage.engine import make_engine; "
        f"e = make_engine({str(tmp_path / 'new.sqlite')!r}); migrate.upgrade(e); "
        "print(migrate.current_revision(e)); "
        "print(any(m == 'alembic' or m.startswith('alembic.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [migrate.head_revision(), "False"]


def test_upgrade_twice_changes_nothing(engine: sa.Engine) -> None:
    """Running upgrade on a database at head is a no-op (the bot does it on every start)."""
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(schema.channels.insert().values(network="n", name="#x", name_key="#x"))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.channels)).scalar() == 1


def test_created_and_migrated_databases_have_the_same_full_text_objects(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Creating from metadata and running the migrations build the same FTS objects (on
    SQLite but the per-row size table, which only tables created before columnsize=0 have:
    see test_a_full_text_table_with_column_sizes_keeps_working)."""
    _alembic(engine, "upgrade", "head")
    migrated = _fts_objects(engine)
    if engine.dialect.name == "sqlite":
        migrated.discard(fts.SQLITE_DOCSIZE_TABLE)
        other = make_engine(str(tmp_path / "created.sqlite"))
        migrate.upgrade(other)
        created = _fts_objects(other)
        assert fts.SQLITE_DOCSIZE_TABLE not in created
        assert _fts_settings(other) == _fts_settings(engine)
        assert ("automerge", fts.SQLITE_AUTOMERGE) in _fts_settings(other)
        other.dispose()
    else:
        _alembic(engine, "downgrade", "base")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        migrate.upgrade(engine)
        created = _fts_objects(engine)
    assert migrated == created
    assert migrated


def test_migrations_and_schema_agree(engine: sa.Engine) -> None:
    """The database the migrations build matches schema.py (autogenerate finds no change)."""
    _alembic(engine, "upgrade", "head")
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                # the events -> channels key is SQLite's only since 0007 (schema.py says so
                # with ddl_if, which autogenerate does not read)
                "include_object": lambda obj, name, type_, refl, other: (
                    not (
                        fts.is_fts_object(name)
                        or (
                            name == FK_EVENTS_CHANNEL
                            and type_ == "foreign_key_constraint"
                            and engine.dialect.name == "postgresql"
                        )
                    )
                ),
                "include_name": lambda name, type_, parents: (
                    not (type_ == "table" and fts.is_fts_object(name))
                ),
                "compare_type": True,
            },
        )
        with warnings.catch_warnings():
            # SQLite cannot reflect the lower(nick) expression index; PostgreSQL compares it
            warnings.filterwarnings("ignore", message=".*expression-based index")
            diff = compare_metadata(context, schema.metadata)
    assert diff == []


def test_revision_0001_with_data(engine: sa.Engine) -> None:
    """Revision 0001 holds channels and events, finds them by word, and downgrades cleanly."""
    _alembic(engine, "upgrade", "0001")
    when = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO channels (id, network, name, name_key) VALUES (1, 'n', '#X', '#x')"
            )
        )
        rows = [
            {"id": schema.time_key(when, 0), "kind": "message", "nick": "Alice", "text": "Café"},
            {"id": schema.time_key(when, 1), "kind": "join", "nick": "bob", "text": ""},
        ]
        conn.execute(
            sa.text(
                "INSERT INTO events (id, channel_id, kind, nick, text) "
                "VALUES (:id, 1, :kind, :nick, :text)"
            ),
            rows,
        )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(_SQLITE_FTS_INSERT, (rows[0]["id"], rows[0]["text"]))
    with engine.connect() as conn:
        assert _search(conn, "cafe") == [rows[0]["id"]]
        own = conn.execute(sa.text("SELECT own FROM events ORDER BY id")).scalars().all()
        assert [bool(x) for x in own] == [False, False]
        ids = conn.execute(
            sa.text("SELECT id FROM events WHERE lower(nick) = 'alice' ORDER BY id")
        ).scalars()
        assert list(ids) == [rows[0]["id"]]
    with engine.begin() as conn:
        # the delete trigger keeps the external-content index consistent
        conn.execute(sa.text("DELETE FROM events WHERE id = :id"), {"id": rows[0]["id"]})
        assert _search(conn, "cafe") == []
    _alembic(engine, "downgrade", "base")
    remaining = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    assert remaining == set()


def test_revision_0002_with_data(engine: sa.Engine) -> None:
    """Revision 0002 keeps the rows and makes PostgreSQL find words inside URLs and versions."""
    _alembic(engine, "upgrade", "0001")
    when = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    text = "see https://example.com/docs for v1.2.3 or mail alice@example.org"
    key = schema.time_key(when)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO channels (id, network, name, name_key) VALUES (1, 'n', '#x', '#x')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (id, channel_id, kind, nick, text) "
                "VALUES (:id, 1, 'message', 'alice', :text)"
            ),
            {"id": key, "text": text},
        )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(_SQLITE_FTS_INSERT, (key, text))
    _alembic(engine, "upgrade", "0002")
    with engine.connect() as conn:
        for word in ("example", "docs", "alice", "org", "3"):
            assert _search(conn, word) == [key], word
        if conn.dialect.name == "postgresql":
            indexdef = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (fts.PG_FTS_INDEX,)
            ).scalar()
            assert "translate" in indexdef
    _alembic(engine, "downgrade", "0001")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1


def test_newer_database_is_refused(engine: sa.Engine) -> None:
    """A database stamped by a newer logbot raises a clear StorageError, and is not touched."""
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageError, match="newer than this logbot"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) == "9999"


def test_foreign_events_table_is_refused(engine: sa.Engine) -> None:
    """An unversioned database that already has an events table is not adopted."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE events (x INTEGER)"))
    with pytest.raises(StorageError, match="not created by logbot"):
        migrate.upgrade(engine)


def test_migration_scripts_are_found_in_the_checkout() -> None:
    """From a source checkout the scripts are the repository's migrations/ folder."""
    assert migrate.migrations_dir() == ROOT / "migrations"


def test_wheel_ships_the_migrations_and_they_run(tmp_path: Path) -> None:
    """The built wheel has logbot/_migrations, and an installed copy upgrades a database."""
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("logbot-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    assert "logbot/_migrations/env.py" in names
    assert "logbot/_migrations/script.py.mako" in names
    versions = {n for n in names if n.startswith("logbot/_migrations/versions/")}
    assert any(n.endswith(".py") for n in versions)
    db = tmp_path / "w.sqlite"
    probe = (
        "import sys; from logbot.storage import migrate; from logbot.storage.engine import "
        "make_engine; print(migrate.migrations_dir()); "
        "migrate.upgrade(make_engine(sys.argv[1])); print(migrate.current_revision("
        "make_engine(sys.argv[1])))"
    )

    def in_the_wheel(code: str) -> str:
        """What ``code`` prints when run from the unpacked wheel alone, given ``db``."""
        return subprocess.run(
            [sys.executable, "-c", code, str(db)],
            cwd=tmp_path,
            env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    where, revision = in_the_wheel(probe).split()
    assert where == str(tmp_path / "site" / "logbot" / "_migrations")
    assert revision == migrate.head_revision()
    # the web archive's templates and static files travel inside the package
    assert "logbot/web/templates/day.html" in names
    assert "logbot/web/static/logbot.css" in names
    assert "logbot/web/static/live.js" in names
    page = (
        "import sys, logbot.web.site as s, logbot.web.server as w; "
        "print(s.__file__); print(sorted(w._static_files())); "
        "print(s.Archive(sys.argv[1]).handle([], {}, {}).status)"
    )
    assert in_the_wheel(page).splitlines() == [
        str(tmp_path / "site" / "logbot" / "web" / "site.py"),
        "['live.js', 'logbot.css']",
        "200",
    ]


def test_db_upgrade_command_creates_then_reports_head(db_target: str) -> None:
    """`logbot db upgrade --db X` creates the schema, and says so; a second run changes nothing."""
    from click.testing import CliRunner

    from logbot.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--db", db_target])
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    second = runner.invoke(main, ["db", "upgrade", "--db", db_target])
    assert second.exit_code == 0
    assert f"already at schema {migrate.head_revision()}" in second.output


def test_db_upgrade_command_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    """A database from a newer logbot, or no database at all, exits 2 with one line."""
    from click.testing import CliRunner

    from logbot.cli import main

    db = tmp_path / "newer.sqlite"
    eng = make_engine(str(db))
    migrate.upgrade(eng)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    eng.dispose()
    runner = CliRunner()
    for target in (str(db), "postgresql+psycopg://postgres@127.0.0.1:1/x"):
        result = runner.invoke(main, ["db", "upgrade", "--db", target])
        assert result.exit_code == 2
        assert result.output.count("\n") == 1
        assert result.output.startswith("Error: ")


def test_known_revisions_agree_with_alembic() -> None:
    """The script scan that spares importing Alembic finds the head Alembic finds."""
    known, head = migrate.known_revisions()
    assert head == migrate.head_revision()
    assert head in known


def test_a_database_at_head_is_opened_without_loading_alembic(tmp_path: Path) -> None:
    """Every start after the first skips Alembic entirely (memory and start-up time)."""
    db = tmp_path / "lean.sqlite"
    eng = make_engine(str(db))
    migrate.upgrade(eng)
    eng.dispose()
    probe = (
        "import sys; from logbot.storage import migrate; from logbot.storage.engine import "
        "make_engine; migrate.upgrade(make_engine(sys.argv[1])); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(db)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]"


def test_revision_0005_counts_deletions_from_zero(engine: sa.Engine) -> None:
    """0005 adds ``changes`` with its one row at zero, as a new database has it; a forget
    bumps it; the downgrade drops it."""
    from logbot.storage.forget import delete_ids

    _alembic(engine, "upgrade", "0005")
    with engine.connect() as conn:
        assert list(conn.execute(sa.text("SELECT id, deletions FROM changes"))) == [(1, 0)]
    delete_ids(engine, [1, 2])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT deletions FROM changes")).scalar() == 1
    _alembic(engine, "downgrade", "0004")
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("changes")


def test_revision_0006_indexes_the_folded_tokens_of_every_stored_row(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0006 fills PostgreSQL's tsvector column for the rows already stored (in rounds), puts
    the index on it, and finds what the old index found, ß and non-ASCII punctuation as
    SQLite does; the downgrade brings the expression index back. SQLite is unchanged."""
    from logbot.storage import tsvector

    monkeypatch.setattr(tsvector, "BACKFILL_CHUNK", 2)
    _alembic(engine, "upgrade", "0005")
    when = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    texts = ["Café au lait", "", "see https://example.com/x", "Straße «цитата»", ":)", "cafe?"]
    keys = [schema.time_key(when, i) for i in range(len(texts))]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO channels (id, network, name, name_key) VALUES (1, 'n', '#x', '#x')"
            )
        )
        for key, text in zip(keys, texts, strict=True):
            conn.execute(
                sa.text(
                    "INSERT INTO events (id, channel_id, kind, nick, text) "
                    "VALUES (:id, 1, 'message', 'alice', :text)"
                ),
                {"id": key, "text": text},
            )
            if conn.dialect.name == "sqlite" and text:
                conn.exec_driver_sql(_SQLITE_FTS_INSERT, (key, text))
    expected = {
        "cafe": [keys[0], keys[5]],
        "café": [keys[0], keys[5]],
        "example": [keys[2]],
        "straße": [keys[3]],
        "цитата": [keys[3]],
    }
    _alembic(engine, "upgrade", "0006")
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        for word, ids in expected.items():
            assert _search(conn, word, old=False) == ids, word
        # unaccent folded ß to ss; SQLite (and now PostgreSQL) keeps it
        assert _search(conn, "strasse", old=False) == []
        if pg:
            stored = dict(
                conn.exec_driver_sql(f"SELECT id, {fts.PG_FTS_COLUMN}::text FROM events").all()
            )
            assert stored[keys[1]] is None
            assert stored[keys[4]] is None
            assert stored[keys[0]] == "'au':2 'cafe':1 'lait':3"
            assert _fts_objects(engine) >= {
                f"{fts.PG_FTS_INDEX} CREATE INDEX {fts.PG_FTS_INDEX} ON public.events "
                f"USING gin ({fts.PG_FTS_COLUMN})",
                f"{fts.PG_FTS_COLUMN} tsvector",
            }
            assert fts.PG_TS_CONFIG not in _fts_objects(engine)
    _alembic(engine, "downgrade", "0005")
    with engine.connect() as conn:
        assert _search(conn, "cafe") == [keys[0], keys[5]]
        assert _search(conn, "example") == [keys[2]]
        if pg:
            assert not any(o.startswith(fts.PG_FTS_COLUMN) for o in _fts_objects(engine))


def _events_keys(engine: sa.Engine) -> list[str | None]:
    return [fk["name"] for fk in sa.inspect(engine).get_foreign_keys("events")]


def test_revision_0007_drops_the_events_channel_key_on_postgresql_only(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """PostgreSQL loses the per-row key check (the writer checks a batch's channels), as a
    database created at head has none; SQLite keeps the key; downgrade adds it back."""
    pg = engine.dialect.name == "postgresql"
    _alembic(engine, "upgrade", "0006")
    assert _events_keys(engine) == [FK_EVENTS_CHANNEL]
    _alembic(engine, "upgrade", "0007")
    after = [] if pg else [FK_EVENTS_CHANNEL]
    assert _events_keys(engine) == after
    _alembic(engine, "downgrade", "0006")
    assert _events_keys(engine) == [FK_EVENTS_CHANNEL]
    _alembic(engine, "upgrade", "head")
    assert _events_keys(engine) == after
    # created empty at head (from the metadata), not migrated: the same
    with engine.begin() as conn:
        if pg:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    fresh = engine if pg else make_engine(str(tmp_path / "fresh.sqlite"))
    migrate.upgrade(fresh)
    assert _events_keys(fresh) == after


def test_a_full_text_table_with_column_sizes_keeps_working(tmp_path: Path) -> None:
    """A SQLite database created before ``columnsize=0`` keeps its index as it is: the bot
    writes to it, and ranked and phrase searches find what they found before."""
    from logbot.search import SearchRequest, run_search
    from logbot.storage.rows import event_row
    from logbot.storage.writer import EventWriter
    from tests.conftest import fts_documents
    from tests.test_storage_writer import ev

    target = str(tmp_path / "old.sqlite")
    eng = make_engine(target)
    _alembic(eng, "upgrade", "head")  # 0001's table: with the per-row size table
    assert fts.SQLITE_DOCSIZE_TABLE in _fts_objects(eng)
    writer = EventWriter(eng, upgrade=False)
    key = schema.time_key(datetime(2024, 5, 1, tzinfo=UTC))
    texts = ["deploy now", "deploy deploy deploy", "we deploy on fridays", "lunch"]
    writer.write([event_row(ev(t), key + i) for i, t in enumerate(texts)])
    writer.close()
    with eng.connect() as conn:
        sizes = conn.exec_driver_sql(f"SELECT count(*) FROM {fts.SQLITE_DOCSIZE_TABLE}")
        assert sizes.scalar_one() == fts_documents(conn) == 4
    eng.dispose()
    ranked = run_search(SearchRequest(query="deploy", db=target, rank=True, limit=None))
    assert ranked.groups[0][0][0].text == "deploy deploy deploy"
    phrase = run_search(SearchRequest(query='"deploy on"', db=target, limit=None))
    assert [r.text for g in phrase.groups for r, _ in g] == ["we deploy on fridays"]
