"""Bulk loads into an empty database: indexes dropped, rows appended, indexes built once."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from logbot import archive, search
from logbot.search import SearchRequest, run_search
from logbot.storage import bulk, migrate
from logbot.storage.engine import make_engine
from logbot.storage.writer import EventWriter
from tests.conftest import fts_documents

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _lines(n: int, word: str = "kumquat", start: datetime = T0) -> list[bytes]:
    """n JSON lines, one a second: every fifth a join (no text), the rest messages."""
    out = []
    for i in range(n):
        obj = {
            "time": (start + timedelta(seconds=i)).isoformat(),
            "network": "net",
            "channel": "#c",
            "kind": "message" if i % 5 else "join",
            "nick": f"nick{i % 7}",
            "text": f"{word} number {i}" if i % 5 else "",
        }
        out.append(json.dumps(obj).encode() + b"\n")
    return out


def _hits(target: str, query: str) -> int:
    outcome = run_search(SearchRequest(query=query, db=target, count_only=True))
    return outcome.count or 0


def _fts_consistent(engine: sa.Engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # rank 0: the index's own structure (1 would also demand an entry for every
            # content row, and rows without text are deliberately not indexed)
            conn.exec_driver_sql(
                "INSERT INTO events_fts(events_fts, rank) VALUES ('integrity-check', 0)"
            )
            indexed = fts_documents(conn)
            texts = conn.exec_driver_sql("SELECT count(*) FROM events WHERE text <> ''").scalar()
        assert indexed == texts


def _assert_complete(target: str) -> None:
    """Every index object is there and the full-text index holds exactly the texts."""
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            assert bulk.missing(conn) == []
        _fts_consistent(engine)
    finally:
        engine.dispose()


def test_import_into_an_empty_database_builds_every_index_and_finds_every_line(
    db_target: str,
) -> None:
    """The bulk path leaves the same schema objects and a consistent full-text index."""
    stats = archive.import_lines(db_target, _lines(500), batch_size=64)
    assert stats.inserted == 500
    _assert_complete(db_target)
    assert _hits(db_target, "kumquat") == 400


def test_import_into_a_database_with_events_keeps_its_indexes(db_target: str) -> None:
    """A second import is not a bulk load: nothing is dropped, both imports are found."""
    archive.import_lines(db_target, _lines(100))
    engine = make_engine(db_target)
    try:
        assert bulk.begin(engine) is False
        with engine.connect() as conn:
            assert bulk.missing(conn) == []
    finally:
        engine.dispose()
    archive.import_lines(db_target, _lines(100, "loquat", T0 + timedelta(days=1)))
    assert (_hits(db_target, "kumquat"), _hits(db_target, "loquat")) == (80, 80)


def _interrupted_load(target: str) -> sa.Engine:
    """What an import killed before its last step leaves: rows in, no indexes."""
    engine = make_engine(target)
    migrate.upgrade(engine)
    assert bulk.begin(engine) is True
    rows = [archive.parse_line(line, f"x:{i}") for i, line in enumerate(_lines(50))]
    writer = EventWriter(engine, upgrade=False, feed_fts=False)
    writer.write(rows)
    writer.close()
    return engine


def test_an_interrupted_bulk_load_is_finished_by_the_next_upgrade(db_target: str) -> None:
    """The missing indexes are the marker: migrate.upgrade (bot start, db upgrade) builds them."""
    engine = _interrupted_load(db_target)
    try:
        with engine.connect() as conn:
            assert set(bulk.missing(conn)) >= {"ix_events_channel_id_id", "ix_events_kind_id"}
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert bulk.missing(conn) == []
        _fts_consistent(engine)
    finally:
        engine.dispose()
    assert _hits(db_target, "kumquat") == 40


def test_search_refuses_a_sqlite_file_whose_full_text_index_is_being_built(tmp_path: Path) -> None:
    """No silent partial answers: a one-line error naming the command that finishes it."""
    target = str(tmp_path / "half.sqlite")
    _interrupted_load(target).dispose()
    with pytest.raises(search.SearchError, match=r"no full-text index.*logbot db upgrade"):
        search.open_reader(target)


def test_finish_rebuilds_a_full_text_index_recreated_during_the_load(tmp_path: Path) -> None:
    """A bot starting mid-import recreates the empty index; finish still indexes every row."""
    target = str(tmp_path / "raced.sqlite")
    engine = _interrupted_load(target)
    try:
        migrate.upgrade(engine)  # the racing bot's start: recreates the index objects
        writer = EventWriter(engine, upgrade=False, feed_fts=False)
        more = _lines(10, "loquat", T0 + timedelta(days=2))
        writer.write([archive.parse_line(line, f"y:{i}") for i, line in enumerate(more)])
        writer.close()
        bulk.finish(engine)
        _fts_consistent(engine)
    finally:
        engine.dispose()
    assert (_hits(target, "kumquat"), _hits(target, "loquat")) == (40, 8)


def _created(target: str) -> None:
    """An existing, empty database (the import is a bulk load, not a new file)."""
    engine = make_engine(target)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_a_bad_line_mid_load_still_leaves_the_committed_rows_indexed(db_target: str) -> None:
    """An import into an existing database that stops at a malformed line builds the
    indexes for what it stored."""
    _created(db_target)
    lines = [*_lines(300), b"{not json\n", *_lines(10, "loquat", T0 + timedelta(days=3))]
    built: list[bool] = []
    with pytest.raises(archive.ArchiveError, match=":301: not a JSON object"):
        archive.import_lines(
            db_target, lines, source="x", batch_size=100, indexing=lambda: built.append(True)
        )
    assert built == [True]
    _assert_complete(db_target)
    # the batches before the bad line's were committed: 300 lines, 240 with text
    assert _hits(db_target, "kumquat") == 240


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_import_into_a_new_file_appears_complete_in_wal_mode_and_leaves_nothing_beside(
    tmp_path: Path,
) -> None:
    """A file not there yet is loaded beside and put in place at the end, indexes built."""
    target = str(tmp_path / "new.sqlite")
    seen: list[list[str]] = []
    stats = archive.import_lines(
        target, _lines(500), batch_size=64, progress=lambda _n: seen.append(_files(tmp_path))
    )
    assert stats.inserted == 500
    # while loading, the path itself is not there: no half-loaded database to open
    assert seen
    assert all("new.sqlite" not in names for names in seen)
    assert _files(tmp_path) == ["new.sqlite"]
    _assert_complete(target)
    assert _hits(target, "kumquat") == 400
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_failed_import_into_a_new_file_leaves_no_file(tmp_path: Path) -> None:
    """All or nothing for a new file: a malformed line mid-load leaves nothing behind."""
    target = str(tmp_path / "new.sqlite")
    lines = [*_lines(300), b"{not json\n"]
    with pytest.raises(archive.ArchiveError, match=":301: not a JSON object"):
        archive.import_lines(target, lines, source="x", batch_size=100)
    assert _files(tmp_path) == []


def test_a_database_created_at_the_path_during_the_import_is_kept(tmp_path: Path) -> None:
    """Someone else's file is never replaced: the import says where its own result is."""
    target = tmp_path / "new.sqlite"

    def race(_n: int) -> None:
        if not target.exists():
            target.write_bytes(b"theirs")

    with pytest.raises(archive.ArchiveError, match="created by something else") as caught:
        archive.import_lines(str(target), _lines(50), batch_size=10, progress=race)
    assert target.read_bytes() == b"theirs"
    kept = str(caught.value).rsplit(" ", 1)[-1]
    assert Path(kept).parent == tmp_path
    assert _hits(kept, "kumquat") == 40


def test_a_new_file_on_a_file_system_without_hard_links_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where link(2) is refused (vfat, some network mounts), the file is renamed instead."""

    def no_link(_src: str, _dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    target = str(tmp_path / "new.sqlite")
    assert archive.import_lines(target, _lines(50)).inserted == 50
    assert _files(tmp_path) == ["new.sqlite"]
    _assert_complete(target)


def test_keys_taken_twice_in_a_new_file_are_rolled_back_and_rekeyed(tmp_path: Path) -> None:
    """Events of one microsecond collide: the batch is rolled back (the new file's journal
    allows it) and written again with fresh keys; every row and index is there."""
    target = str(tmp_path / "same.sqlite")
    one = _lines(2, start=T0 - timedelta(hours=1))[1]  # a message
    same = [one.replace(b"kumquat", f"kumquat{i}".encode()) for i in range(5)]
    lines = [*_lines(200, start=T0 - timedelta(days=1)), *same, *_lines(30, "loquat")]
    stats = archive.import_lines(target, lines, batch_size=50)
    assert (stats.inserted, stats.rekeyed) == (235, 4)
    _assert_complete(target)
    assert (_hits(target, "loquat"), _hits(target, "kumquat3")) == (24, 1)
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
