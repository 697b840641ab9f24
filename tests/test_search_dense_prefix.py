"""A prefix common among the newest events is found by checking them, not by FTS5.

FTS5 reads the whole posting list of every word a prefix covers before it yields the
newest match; a dense prefix (``th*``) is found among a few hundred of the newest events.
Both ways must give exactly the same hits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logbot import archive, search
from logbot.query import matches, parse
from logbot.search import Filters, SearchRequest, build_filters
from logbot.search import reader as planner
from tests.conftest import pg_database

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = ["there", "then", "thesis", "Thé", "other", "cathedral", "deploy", "naïve", "привет"]


def _lines() -> list[bytes]:
    lines = []
    for i in range(6000):
        # about one event in three has a th-word; "rare" words only every 700th
        words = [WORDS[i % len(WORDS)], "filler", f"w{i % 97}"]
        if i % 700 == 0:
            words.append("kumquat")
        obj = {
            "time": (T0 + timedelta(seconds=i)).isoformat(),
            "network": "net",
            "channel": "#a" if i % 4 else "#b",
            "kind": "message" if i % 10 else "action",
            "nick": f"n{i % 5}",
            "text": " ".join(words),
        }
        lines.append(json.dumps(obj, ensure_ascii=False).encode() + b"\n")
    return lines


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same 6,000 events in a SQLite file, then in a PostgreSQL database of their own."""
    if request.param == "sqlite":
        path = str(tmp_path_factory.mktemp("dense") / "dense.sqlite")
        archive.import_lines(path, _lines())
        yield path
        return
    with pg_database(request.getfixturevalue("pg_server_url"), "logbot_dense") as url:
        archive.import_lines(url, _lines())
        yield url


def _both(target: str, query: str, filters: Filters, limit: int) -> tuple[list, list, bool]:  # type: ignore[type-arg]
    reader = search.open_reader(target)
    try:
        walked = reader._walk_dense_prefix(parse(query), filters, reader.resolve(filters)[0], limit)
        reader._walk_dense = False
        indexed = reader.search(parse(query), filters, limit)
        reader._walk_dense = True
        result = reader.search(parse(query), filters, limit)
    finally:
        reader.close()
    return result, indexed, walked is not None


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("th*", {}),
        ("TH*", {}),
        ("the*", {"channels": ("#b",)}),
        ("th*", {"nicks": ("n1", "n3"), "kinds": ("message",)}),
        ("th* -then", {"since": "2025-01-01T01:00:00+00:00"}),
        ("naiv* OR nai*", {}),
        ('"filler w1"*', {"until": "2025-01-01T01:00:00+00:00"}),
    ],
)
def test_a_dense_prefix_is_walked_and_gives_the_index_hits(
    target: str, query: str, args: dict[str, object]
) -> None:
    """Folding, exclusions, OR, phrases and every filter: the same newest hits, in order."""
    filters = build_filters(SearchRequest(query=query, **args))  # type: ignore[arg-type]
    for limit in (1, 50):
        result, indexed, walked = _both(target, query, filters, limit)
        assert walked
        assert result == indexed
        assert len(result) == limit


def test_a_sparse_prefix_goes_to_the_index(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Too few matches among the newest events: the walk gives up, the index answers."""
    # one match in 700 events: 5 of them would take ~3,500 events to find
    for reader in (search.SqliteReader, search.PostgresReader):
        monkeypatch.setattr(reader, "_dense_walk_max", 2000)
    filters = Filters()
    result, indexed, walked = _both(target, "kumqu*", filters, 5)
    assert not walked
    assert result == indexed
    assert len(result) == 5


def test_a_walk_that_runs_out_of_events_returns_every_match(target: str) -> None:
    """A narrow time range with fewer matches than --limit: all of them, none missed."""
    filters = build_filters(
        SearchRequest(
            query="ther*", since="2025-01-01T00:00:00+00:00", until="2025-01-01T00:01:00+00:00"
        )
    )
    result, indexed, walked = _both(target, "ther*", filters, 50)
    assert walked
    assert result == indexed
    assert 0 < len(result) < 50


@pytest.mark.parametrize(
    ("text", "could"),
    [
        ("there it is", True),
        ("THERE!", True),
        ("nothing here", False),
        ("Café", False),  # not ASCII, and no "there" in it however it is folded
        ("Thère it is", True),  # folded, it holds "there"
        ("\u0422here", False),  # a Cyrillic capital Te: no "there" (the matcher agrees)
    ],
)
def test_the_prefilter_never_rejects_a_text_that_could_match(text: str, could: bool) -> None:
    """The quick test only rules out ASCII texts lacking a token; it never drops a match."""
    assert planner._prefilter(parse("there*"))(text) is could
    assert planner._prefilter(parse("THÈRE*"))(text) is could  # the word folded too
    # several words, OR, a phrase: the general form of the same test
    assert planner._prefilter(parse('there* OR "it is" -x'))(text) is could


@pytest.mark.parametrize(
    ("query", "walk"),
    [
        ("th*", True),
        ("th* -then", True),
        ("straße*", False),
        ("th* -straße", False),
        ("the", False),
    ],
)
def test_postgresql_walks_only_prefixes_of_ascii_words(query: str, walk: bool) -> None:
    """unaccent folds some letters unlike FTS5 (ß -> ss): such queries stay with the index."""
    reader = object.__new__(search.PostgresReader)  # no connection needed to decide
    assert reader._may_walk(parse(query)) is walk


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("abAB01 -.'éÉ\u0301\u0306иЙжß\u00e6\u0130x")), max_size=24
    ),
    words=st.lists(
        st.text(alphabet=st.sampled_from(list("abAB01éиЙx")), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    ),
    form=st.sampled_from(["prefix", "words", "or", "phrase"]),
)
def test_the_prefilter_lets_every_match_through(text: str, words: list[str], form: str) -> None:
    """Whatever the text and query, a text the matcher accepts passes the quick test."""
    spelled = {
        "prefix": f"{words[0]}*",
        "words": " ".join(f"{w}*" for w in words),
        "or": " OR ".join(f"{w}*" for w in words),
        "phrase": '"' + " ".join(words) + '"*',
    }[form]
    query = parse(spelled)
    assert query is not None
    if matches(query, text):
        assert planner._prefilter(query)(text)
