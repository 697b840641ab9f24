"""PostgreSQL's full-text column: the writer's tsvector of each text, and what it finds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from logbot import archive
from logbot.query import folded_tokens, matches, parse
from logbot.search import SearchRequest, run_search
from logbot.storage.tsvector import MAX_LEXEME_BYTES, tsvector_text
from tests.conftest import pg_database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_tsvector_holds_each_folded_token_at_its_position() -> None:
    """Positions count tokens from 1, repeats included; no token means no tsvector."""
    assert tsvector_text("Hello, HELLO wörld!") == "'hello':1 'hello':2 'world':3"
    assert tsvector_text("") is None
    assert tsvector_text(" :) -- ") is None


def test_words_postgresql_cannot_hold_are_left_out() -> None:
    """A lexeme over 2,047 bytes is dropped (as to_tsvector drops it); the rest stay."""
    long_word = "a" * (MAX_LEXEME_BYTES + 1)
    assert tsvector_text(f"x {long_word} y") == "'x':1 'y':3"
    assert tsvector_text(long_word) is None


# (text, what makes it hard)
EDGE_TEXTS = [
    "a " * 300,  # more positions of one lexeme than PostgreSQL keeps (256)
    " ".join(f"w{i}" for i in range(20_000)),  # positions past 16,383
    "\uac00" * 700,  # Hangul: folds to three jamo a syllable, 6,300 bytes
    "ab" * 1023 + "c",  # 2,047 bytes: the longest word kept
    "İstanbul ǅemal ﬁn x² \ue000 e\u0301 «цитата» 日本語",
]


@pytest.mark.postgres
@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_postgresql_takes_every_tsvector_the_writer_makes(pg_server_url: str, text: str) -> None:
    """Each literal parses, holding the text's distinct tokens that fit."""
    url = pg_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        got = conn.execute(
            "SELECT tsvector_to_array(%s::tsvector)", (tsvector_text(text),)
        ).fetchone()
    assert got is not None
    kept = {t for t in folded_tokens(text) if len(t.encode()) <= MAX_LEXEME_BYTES}
    assert set(got[0] or []) == kept


# lines where PostgreSQL's unaccent and parser cut or folded unlike SQLite's unicode61
EVENTS = [
    "Straße gesperrt",
    "strasse offen",
    "«цитата» дня",
    "foo—bar baz",
    "ﬁnal answer",
    "İstanbul trip",
    "x² + y²",
    "naïve déjà-vu",
    "日本語のテキスト",
]
QUERIES = ["straße", "strasse", "цитата", "foo", '"foo bar"', "ﬁnal", "final", "istanbul", "x²"]
QUERIES += ["x", "naive", "deja", '"deja vu"', "日本語のテキスト", "vu*"]


@pytest.fixture(scope="module")
def archive_lines() -> list[bytes]:
    lines = []
    for i, text in enumerate(EVENTS):
        event = {
            "time": (T0 + timedelta(minutes=i)).isoformat(),
            "network": "libera",
            "channel": "#x",
            "nick": "alice",
            "kind": "message",
            "text": text,
        }
        lines.append((json.dumps(event, ensure_ascii=False) + "\n").encode())
    return lines


@pytest.fixture(scope="module")
def pg_db(pg_server_url: str, archive_lines: list[bytes]) -> Iterator[str]:
    with pg_database(pg_server_url, "logbot_tsv") as target:
        archive.import_lines(target, archive_lines)
        yield target


@pytest.mark.postgres
@pytest.mark.parametrize("query", QUERIES)
def test_postgresql_finds_what_sqlite_finds(
    pg_db: str, tmp_path_factory: pytest.TempPathFactory, archive_lines: list[bytes], query: str
) -> None:
    """Where unaccent (ß -> ss, ﬁ -> fi) and PostgreSQL's parser differed from SQLite's
    tokenizer, both engines now find exactly what the query language means."""
    sqlite_db = str(tmp_path_factory.mktemp("tsv") / "logbot.sqlite")
    archive.import_lines(sqlite_db, archive_lines)
    q = parse(query)
    assert q is not None
    expected = [t for t in EVENTS if matches(q, t)]
    for db in (sqlite_db, pg_db):
        outcome = run_search(SearchRequest(query=query, db=db, limit=None))
        assert [r.text for group in outcome.groups for r, _ in group] == expected, db


@pytest.mark.postgres
def test_a_database_from_before_0006_is_searched_through_its_expression_index(
    pg_server_url: str,
) -> None:
    """Not upgraded yet: the reader uses the old index expression (unaccent folds ß to ss
    there) and says to upgrade."""
    import sqlalchemy as sa
    from alembic import command

    from logbot.storage import migrate
    from logbot.storage.engine import make_engine

    with pg_database(pg_server_url, "logbot_old") as target:
        engine = make_engine(target)
        try:
            with engine.begin() as conn:
                command.upgrade(migrate.alembic_config(conn), "0005")
                conn.execute(
                    sa.text(
                        "INSERT INTO channels (id, network, name, name_key) "
                        "VALUES (1, 'n', '#x', '#x')"
                    )
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO events (id, channel_id, kind, nick, text) "
                        "VALUES (:id, 1, 'message', 'a', :text)"
                    ),
                    [{"id": 1, "text": "Jalapeño at example.com"}, {"id": 2, "text": "Straße"}],
                )
        finally:
            engine.dispose()
        for query, found in [("jalapeno", "Jalapeño at example.com"), ("strasse", "Straße")]:
            outcome = run_search(SearchRequest(query=query, db=target, limit=None))
            assert [r.text for group in outcome.groups for r, _ in group] == [found]
            assert any("logbot db upgrade" in note for note in outcome.notes)
