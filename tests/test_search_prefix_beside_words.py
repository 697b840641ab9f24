"""A prefix beside other words (SQLite): the other words' hits are checked against the
whole query instead of FTS5 expanding the prefix, which merged the lists of every word the
prefix covers in memory (~200 MB for ``th*`` beside a rare word on 10M events). Both ways
must give exactly the same hits."""

from __future__ import annotations

import pytest

from logbot import archive, search
from logbot.query import Query, parse, to_fts5, without_prefixes
from logbot.search import Filters, SearchRequest, build_filters
from logbot.search import sqlite as sqlite_reader
from tests.test_search_dense_prefix import _lines


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("beside") / "beside.sqlite")
    archive.import_lines(path, _lines())
    return path


def _search(db: str, query: str, filters: Filters, limit: int) -> list[search.Record]:
    reader = search.open_reader(db)
    try:
        reader._walk_dense = False  # type: ignore[attr-defined]  # straight to the index
        return reader.search(parse(query), filters, limit)
    finally:
        reader.close()


@pytest.fixture
def expanded(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each query given to FTS5, whether it holds a prefix FTS5 would expand."""
    asked: list[bool] = []

    def spy(query: Query) -> str:
        asked.append(any(p.prefix for p in (*query.positive(), *query.excluded)))
        return to_fts5(query)

    monkeypatch.setattr(sqlite_reader, "to_fts5", spy)
    return asked


def _index_whole(db: str, query: str, filters: Filters, limit: int) -> list[search.Record]:
    """The hits as FTS5 gives them for the whole query (the plan before)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sqlite_reader, "without_prefixes", lambda q: None)
        mp.setattr(sqlite_reader.SqliteReader, "_check_filtered_here", lambda self, q: False)
        return _search(db, query, filters, limit)


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("kumquat th*", {}),
        ("filler th*", {"channels": ("#b",)}),
        ("filler TH* -then", {"nicks": ("n1", "n3"), "kinds": ("message",)}),
        ('filler nai* -"w1"*', {"since": "2025-01-01T00:30:00+00:00"}),
        ("w5 th* OR cat*", {"until": "2025-01-01T01:00:00+00:00"}),
        ('"filler w1" th*', {}),
        ("th*", {"nicks": ("n2",)}),
    ],
)
def test_a_prefix_beside_a_word_or_a_filter_is_never_expanded_and_gives_the_index_hits(
    db: str, expanded: list[bool], query: str, args: dict[str, object]
) -> None:
    filters = build_filters(SearchRequest(query=query, **args))  # type: ignore[arg-type]
    for limit in (1, 5, 50):
        expected = _index_whole(db, query, filters, limit)
        assert any(expanded)  # the plan before did expand it
        expanded.clear()
        assert _search(db, query, filters, limit) == expected
        assert not any(expanded)
        assert expected


def test_a_prefix_rare_among_the_words_hits_is_left_to_the_index(
    db: str, expanded: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "filler" is in every event, kumqu* in one of 700: 5 hits lie past a budget of 100
    monkeypatch.setattr(sqlite_reader, "PLAIN_FIRST_BUDGET", 100)
    expected = _index_whole(db, "filler kumqu*", Filters(), 5)
    expanded.clear()
    assert _search(db, "filler kumqu*", Filters(), 5) == expected
    assert expanded == [False, True]  # the word's hits first, then the whole query
    assert len(expected) == 5


def test_every_hit_of_a_rare_word_is_checked_when_they_are_fewer_than_the_budget(
    db: str, expanded: list[bool]
) -> None:
    expected = _index_whole(db, "kumquat th*", Filters(), 50)
    expanded.clear()
    assert _search(db, "kumquat th*", Filters(), 50) == expected
    assert expanded == [False]
    assert 0 < len(expected) < 50


def _tokens(query: Query | None) -> object:
    if query is None:
        return None
    return (
        [[p.tokens for p in clause] for clause in query.clauses],
        [p.tokens for p in query.excluded],
    )


@pytest.mark.parametrize(
    ("query", "plain"),
    [
        ("release th*", ([[("release",)]], [])),
        ("a* b*", None),
        ("th* OR cat release -x* -y", ([[("release",)]], [("y",)])),
        ("x th* OR cat", ([[("x",)]], [])),
        ('"a b"* c', ([[("c",)]], [])),
    ],
)
def test_without_prefixes_keeps_the_clauses_and_exclusions_that_hold_none(
    query: str, plain: object
) -> None:
    parsed = parse(query)
    assert parsed is not None
    assert _tokens(without_prefixes(parsed)) == plain
