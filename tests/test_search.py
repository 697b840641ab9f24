"""Search on both engines: one dataset, the same hits on SQLite and PostgreSQL.

The dataset is imported through ``logbot.archive`` (the real write path) into a SQLite file
and into a database of its own on the PostgreSQL server; every query's hits are compared
with the reference meaning of the query language (``logbot.query.matches``), so both
engines are held to one meaning, and to each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logbot import archive, search
from logbot.query import matches, parse
from logbot.render import Record, json_line
from logbot.search import Filters, SearchRequest, run_search
from logbot.search import postgres as pg_reader
from logbot.search import reader as planner
from tests.conftest import pg_database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ev(
    minutes: float,
    channel: str,
    nick: str,
    text: str = "",
    kind: str = "message",
    *,
    network: str = "libera",
    target: str = "",
    userhost: str = "",
) -> dict[str, str]:
    obj = {
        "time": (T0 + timedelta(minutes=minutes)).isoformat(),
        "network": network,
        "channel": channel,
        "nick": nick,
        "kind": kind,
        "text": text,
    }
    if target:
        obj["target"] = target
    if userhost:
        obj["userhost"] = userhost
    return obj


# Spread over four days (minute offsets); every feature the query language promises.
EVENTS: list[dict[str, str]] = [
    ev(0, "#x", "alice", "", "join", userhost="alice@example.org"),
    ev(1, "#x", "alice", "the release date is friday"),
    ev(2, "#x", "Bob", "Release: DATE moved to monday"),
    ev(3, "#x", "carol", "date of release unknown"),
    ev(4, "#x", "Bob", "deployed to staging"),
    ev(5, "#x", "alice", "deployment done on prod"),
    ev(6, "#x", "dave_", "see https://example.com/foo?x=1 now"),
    ev(7, "#x", "alice", "example company news"),
    ev(8, "#x", "foo[m]", "ping foo_bar and [m]alice"),
    ev(9, "#x", "carol", "Jalapeño poppers"),
    ev(10, "#x", "Bob", "jalapeno without the tilde"),
    ev(11, "#x", "carol", "waves at everyone", "action"),
    ev(12, "#x", "ChanServ", "release notes are up", "notice"),
    ev(13, "#x", "Bob", "bye release", "part", userhost="bob@host"),
    ev(60, "#y", "alice", "Привет, МИР"),
    ev(61, "#y", "Bob", "мир труд май"),
    ev(62, "#y", "carol", "issue 42 closed"),
    ev(63, "#y", "alice", "bug found in the release"),
    ev(64, "#y", "Bob", "café au lait"),
    ev(65, "#y", "carol", "日本語 テキスト"),
    ev(66, "#y", "alice", "mail alice@example.org about foo-bar"),
    ev(67, "#y", "op", "spam", "kick", target="spammer"),
    ev(68, "#y", "alice", "", "nick", target="alice2"),
    ev(69, "#y", "op", "release party tonight", "topic"),
    ev(70, "#y", "op", "+o alice2", "mode"),
    ev(71, "#y", "carol", "Ping timeout: release", "quit", userhost="carol@h"),
    ev(1440, "#x", "alice", "release day two"),
    ev(1441, "#x", "Bob", "day two release candidate"),
    ev(2880, "#X", "alice", "release day three", network="oftc"),
    ev(4320, "#x", "carol", "release day four, final"),
    ev(4321, "#x", "alice", "version v1.2.3 is 1.5 times faster"),
    ev(4322, "#x", "Bob", "deploy deploy deploy"),
]

QUERIES = [
    "release",
    "release date",
    '"release date"',
    '"of release"',
    "deplo*",
    "deploy* -staging",
    "bug OR issue",
    "release -day",
    "example.com/foo",
    "example.co*",
    "https://example.com",
    "foo_bar",
    "[m]alice",
    "jalapeno",
    "JALAPEÑO",
    "мир",
    "Привет мир",
    "cafe",
    "42",
    '"example com" OR café',
    "日本語",
    "alice@example.org",
    "foo-bar",
    "v1.2.3",
    "1.5",
    "nosuchword",
]


@pytest.fixture(scope="module")
def archive_lines() -> list[bytes]:
    return [(json.dumps(e, ensure_ascii=False) + "\n").encode() for e in EVENTS]


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory, archive_lines: list[bytes]) -> str:
    """The dataset in a SQLite file."""
    target = str(tmp_path_factory.mktemp("search") / "logbot.sqlite")
    archive.import_lines(target, archive_lines)
    return target


@pytest.fixture(scope="module")
def pg_db(pg_server_url: str, archive_lines: list[bytes]) -> Iterator[str]:
    """The dataset in a PostgreSQL database of its own on the test server."""
    with pg_database(pg_server_url, "logbot_search") as target:
        archive.import_lines(target, archive_lines)
        yield target


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(request: pytest.FixtureRequest) -> str:
    """The dataset on each engine in turn."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    return str(request.getfixturevalue(name))


def texts(records: list[Record]) -> list[str]:
    return [r.text for r in records]


def expected_texts(query: str, keep: object = None) -> list[str]:
    q = parse(query)
    assert q is not None
    return [e["text"] for e in EVENTS if e["text"] and matches(q, e["text"])]


@pytest.mark.parametrize("query", QUERIES)
def test_every_query_finds_what_the_language_means_on_each_engine(db: str, query: str) -> None:
    """Each engine returns exactly the events the reference matcher accepts, oldest first."""
    outcome = run_search(SearchRequest(query=query, db=db, limit=None))
    found = [r.text for group in outcome.groups for r, _ in group]
    assert found == expected_texts(query)


def test_reference_expectations_are_not_vacuous() -> None:
    """The dataset makes almost every sample query find something (and one find nothing)."""
    empty = [q for q in QUERIES if not expected_texts(q)]
    assert empty == ["nosuchword"]


def test_no_query_lists_the_newest_events_oldest_first(db: str) -> None:
    """Without a query the newest --limit events come back, printed oldest first."""
    outcome = run_search(SearchRequest(db=db, limit=3))
    got = [r.text for r, _ in outcome.groups[0]]
    assert got == [e["text"] for e in EVENTS[-3:]]


def test_limit_keeps_the_newest_matches(db: str) -> None:
    """--limit 2 keeps the two newest matches, still printed oldest first."""
    outcome = run_search(SearchRequest(query="release", db=db, limit=2))
    assert [r.text for r, _ in outcome.groups[0]] == [
        "release day three",
        "release day four, final",
    ]


@pytest.mark.parametrize(
    ("filters", "query", "expected"),
    [
        (
            {"channels": ("#y",)},
            "release",
            ["bug found in the release", "release party tonight", "Ping timeout: release"],
        ),
        (
            {"channels": ("Y",)},
            "release",
            ["bug found in the release", "release party tonight", "Ping timeout: release"],
        ),
        ({"network": "oftc"}, "release", ["release day three"]),
        (
            {"network": "LIBERA", "channels": ("#X",)},
            "day",
            ["release day two", "day two release candidate", "release day four, final"],
        ),
        (
            {"channels": ("#x",)},
            "day",
            [
                "release day two",
                "day two release candidate",
                "release day three",
                "release day four, final",
            ],
        ),
        (
            {"nicks": ("bob",)},
            "release",
            ["Release: DATE moved to monday", "bye release", "day two release candidate"],
        ),
        (
            {"nicks": ("BOB", "Carol")},
            "release",
            [
                "Release: DATE moved to monday",
                "date of release unknown",
                "bye release",
                "Ping timeout: release",
                "day two release candidate",
                "release day four, final",
            ],
        ),
        (
            {"kinds": ("notice,topic",)},
            "release",
            ["release notes are up", "release party tonight"],
        ),
        ({"kinds": ("part", "quit")}, None, ["bye release", "Ping timeout: release"]),
        ({"nicks": ("op",), "kinds": ("kick",)}, None, ["spam"]),
        (
            {"since": "2026-03-02T12:00:00+00:00"},
            "release",
            [
                "release day two",
                "day two release candidate",
                "release day three",
                "release day four, final",
            ],
        ),
        (
            {"until": "2026-03-02T12:00:00+00:00", "since": "2026-03-01T13:00:00+00:00"},
            "release",
            ["bug found in the release", "release party tonight", "Ping timeout: release"],
        ),
        # --since is inclusive, --until exclusive, to the microsecond
        (
            {"since": "2026-03-02T12:00:00+00:00", "until": "2026-03-02T12:01:00+00:00"},
            None,
            ["release day two"],
        ),
        (
            # #x of every network (#X on oftc too) unless --network says which
            {"channels": ("#x",), "nicks": ("alice",), "since": "2026-03-02T00:00:00+00:00"},
            None,
            ["release day two", "release day three", "version v1.2.3 is 1.5 times faster"],
        ),
    ],
)
def test_filters_narrow_the_hits(
    db: str, filters: dict[str, object], query: str | None, expected: list[str]
) -> None:
    """Channel (any case, # optional), network, nick (any case), kind and time filters."""
    outcome = run_search(SearchRequest(query=query, db=db, limit=None, **filters))  # type: ignore[arg-type]
    assert [r.text for group in outcome.groups for r, _ in group] == expected


# (FILTER_FIRST_MAX, SCAN_BUDGET_MIN, SCANS_PER_PROBE): which plan answers
PLANS = {
    "filter count too high: index first": (0, 2000, 30),
    "few filtered: budgeted index walk completes": (10**9, 10**9, 30),
    "few filtered: budget spent, then asks the index per event": (10**9, 1, 0),
}


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(
    "filters",
    [
        {"channels": ("#x",)},
        {"nicks": ("alice", "bob")},
        {"kinds": ("message",)},
        {"channels": ("#x", "#y"), "nicks": ("alice",), "since": "2026-03-01T12:05:00+00:00"},
    ],
)
def test_every_plan_gives_the_same_hits(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, plan: str, filters: dict[str, object]
) -> None:
    """SQLite: walking the index first or the filtered events first finds the same hits."""
    db = sqlite_db

    def use(settings: tuple[int, int, int]) -> None:
        for name, value in zip(
            ("FILTER_FIRST_MAX", "SCAN_BUDGET_MIN", "SCANS_PER_PROBE"), settings, strict=True
        ):
            monkeypatch.setattr(planner, name, value)

    for query in ["release", "deplo*", "mir OR alice", "release -day"]:
        for limit in (1, 2, None):
            request = SearchRequest(query=query, db=db, limit=limit, **filters)  # type: ignore[arg-type]
            use(PLANS[plan])
            got = run_search(request)
            use((-1, 0, 0))
            ref = run_search(request)
            assert [r for g in got.groups for r, _ in g] == [r for g in ref.groups for r, _ in g]


@pytest.mark.parametrize(
    ("plain_matches", "walk_row_us", "window_matches"),
    [(1e9, 1e9, 4), (-1, 0.0, 4), (-1, 1e9, 4), (-1, 1e9, 1e-9), (-1, 1e9, 1e9)],
    ids=["read-all-matches", "walk-primary-key", "windows", "tiny-first-window", "one-window"],
)
@pytest.mark.postgres
def test_postgresql_newest_first_strategies_agree(
    pg_db: str,
    monkeypatch: pytest.MonkeyPatch,
    plain_matches: float,
    walk_row_us: float,
    window_matches: float,
) -> None:
    """PostgreSQL: every way to find the newest hits gives the newest hits, in order."""
    db = pg_db
    for query, filters in [
        ("release", {}),
        ("deplo*", {"nicks": ("bob",)}),
        ("release -day", {"since": "2026-03-01T12:05:00+00:00"}),
        ("day", {"until": "2026-03-03T00:00:00+00:00"}),
    ]:
        for limit in (1, 3):
            request = SearchRequest(query=query, db=db, limit=limit, **filters)  # type: ignore[arg-type]
            monkeypatch.setattr(pg_reader, "PLAIN_MATCHES", plain_matches)
            monkeypatch.setattr(pg_reader, "WALK_ROW_US", walk_row_us)
            monkeypatch.setattr(pg_reader, "WINDOW_MATCHES", window_matches)
            got = [r.text for g in run_search(request).groups for r, _ in g]
            want = expected_texts(query)
            if filters:
                ref = run_search(request._replace(limit=None))
                want = [r.text for g in ref.groups for r, _ in g]
            assert got == want[-limit:]


def test_unknown_channel_finds_nothing_and_says_so(db: str) -> None:
    """A channel that is not in the database gives no hits and a one-line note."""
    outcome = run_search(SearchRequest(query="release", db=db, channels=("#nope",)))
    assert not outcome.found
    assert len(outcome.notes) == 1
    assert outcome.notes[0].startswith("no channel #nope in ")


@pytest.mark.parametrize(
    ("request_args", "count"),
    [
        ({"query": "release"}, len(expected_texts("release"))),
        ({"query": "release", "channels": ("#y",)}, 3),
        ({"query": "release", "since": "2026-03-02T00:00:00+00:00"}, 4),
        ({}, len(EVENTS)),
        ({"kinds": ("join",)}, 1),
        ({"query": "nosuchword"}, 0),
    ],
)
def test_count_counts_every_match(db: str, request_args: dict[str, object], count: int) -> None:
    """--count answers the number of matches, ignoring --limit."""
    outcome = run_search(SearchRequest(db=db, count_only=True, limit=1, **request_args))  # type: ignore[arg-type]
    assert outcome.count == count
    assert outcome.found is (count > 0)


def test_rank_orders_by_relevance(db: str) -> None:
    """--rank returns the same matches, the densest match first."""
    ranked = run_search(SearchRequest(query="deplo*", db=db, rank=True, limit=None))
    got = [r.text for r, _ in ranked.groups[0]]
    assert sorted(got) == sorted(expected_texts("deplo*"))
    assert got[0] == "deploy deploy deploy"


def test_context_prints_neighbours_in_the_same_channel(db: str) -> None:
    """--context 1 adds the event before and after each hit in its channel, merged."""
    outcome = run_search(SearchRequest(query="jalapeno", db=db, context=1, channels=("#x",)))
    assert [[(r.text, hit) for r, hit in g] for g in outcome.groups] == [
        [
            ("ping foo_bar and [m]alice", False),
            ("Jalapeño poppers", True),
            ("jalapeno without the tilde", True),
            ("waves at everyone", False),
        ]
    ]


def test_context_merges_touching_windows_and_keeps_far_ones_apart(db: str) -> None:
    """Windows that overlap merge into one group; distant hits form groups of their own."""
    outcome = run_search(SearchRequest(query="jalapeno OR final", db=db, context=1))
    assert [[(r.text, hit) for r, hit in g] for g in outcome.groups] == [
        [
            ("ping foo_bar and [m]alice", False),
            ("Jalapeño poppers", True),
            ("jalapeno without the tilde", True),
            ("waves at everyone", False),
        ],
        [
            ("day two release candidate", False),
            ("release day four, final", True),
            ("version v1.2.3 is 1.5 times faster", False),
        ],
    ]
    merged = run_search(SearchRequest(query='"day two" OR final', db=db, context=1))
    assert [[r.text for r, _ in g] for g in merged.groups] == [
        [
            "bye release",
            "release day two",
            "day two release candidate",
            "release day four, final",
            "version v1.2.3 is 1.5 times faster",
        ]
    ]


def test_export_streams_everything_oldest_first_as_search_json(db: str) -> None:
    """export gives every event, oldest first, as the very lines search --format json prints."""
    with search.open_reader(db) as reader:
        lines = list(archive.export_lines(reader, Filters()))
    assert [json.loads(line)["text"] for line in lines] == [e["text"] for e in EVENTS]
    outcome = run_search(SearchRequest(db=db, limit=None))
    assert lines == [json_line(r) for r, _ in outcome.groups[0]]


def test_export_applies_filters(db: str) -> None:
    """export --channel/--nick narrows the archive and keeps time order across channels."""
    with search.open_reader(db) as reader:
        lines = list(archive.export_lines(reader, Filters(nicks=("carol", "bob"))))
    want = [e["text"] for e in EVENTS if e["nick"].lower() in ("carol", "bob")]
    assert [json.loads(line)["text"] for line in lines] == want


def test_export_keeps_targets_and_userhosts(db: str) -> None:
    """Kicks keep who was kicked, nick changes the new nick, joins the user@host."""
    with search.open_reader(db) as reader:
        objs = [json.loads(line) for line in archive.export_lines(reader, Filters())]
    by_kind = {o["kind"]: o for o in objs}
    assert by_kind["kick"]["target"] == "spammer"
    assert by_kind["nick"]["target"] == "alice2"
    assert by_kind["join"]["userhost"] == "alice@example.org"


def test_search_never_writes_the_sqlite_file(tmp_path: Path, archive_lines: list[bytes]) -> None:
    """A search opens SQLite read-only: the file's bytes do not change."""
    target = tmp_path / "ro.sqlite"
    archive.import_lines(str(target), archive_lines)
    before = target.read_bytes()
    run_search(SearchRequest(query="release", db=str(target), context=2))
    run_search(SearchRequest(db=str(target), count_only=True))
    assert target.read_bytes() == before


def _deploy_hits(reader: search.Reader) -> list[str]:
    query = parse("deploy")
    assert query is not None
    return texts(reader.search(query, Filters(), 100))


@pytest.mark.postgres
def test_postgresql_time_limit_stops_a_running_statement_and_the_reader_goes_on(
    pg_db: str,
) -> None:
    """A search blocked past its time limit (here by a lock on the table) is stopped by the
    server with SearchTimeout; once the lock is gone the same reader searches again."""
    import psycopg

    from logbot.search.postgres import pg_connect_args

    with search.open_reader(pg_db) as reader:
        # under a time limit the read-only transaction ends with the search: no lock held
        with reader.time_limit(30):
            want = _deploy_hits(reader)
        assert want == expected_texts("deploy")
        kwargs, _ = pg_connect_args(pg_db)
        with psycopg.connect(**kwargs) as locker:
            locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            started = datetime.now(UTC)
            with (
                pytest.raises(search.SearchTimeout, match=r"longer than 0\.3 s"),
                reader.time_limit(0.3),
            ):
                _deploy_hits(reader)
            took = (datetime.now(UTC) - started).total_seconds()
            # the server's timer and this clock differ by a hair: cut near 0.3 s, not 30
            assert 0.25 <= took < 5
            locker.rollback()
        with reader.time_limit(30):
            assert _deploy_hits(reader) == want
        # the session's own settings survived the rollback that ended the stopped search
        assert reader._rows("SHOW plan_cache_mode", []) == [("force_custom_plan",)]
        assert reader._rows("SHOW statement_timeout", []) == [("0",)]


def test_sqlite_time_limit_interrupts_a_running_statement(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's progress handler stops the statement once its clock is past the limit."""
    from types import SimpleNamespace

    from logbot.search import sqlite as sqlite_reader

    with search.open_reader(sqlite_db) as reader:
        monkeypatch.setattr(sqlite_reader, "PROGRESS_STEPS", 1)
        monkeypatch.setattr(sqlite_reader, "time", SimpleNamespace(monotonic=lambda: 1e18))
        with pytest.raises(search.SearchTimeout), reader.time_limit(60):
            _deploy_hits(reader)
        monkeypatch.undo()
        with reader.time_limit(60):
            assert _deploy_hits(reader) == expected_texts("deploy")


def test_a_time_limit_already_spent_stops_before_the_first_statement(db: str) -> None:
    with search.open_reader(db) as reader:
        with pytest.raises(search.SearchTimeout), reader.time_limit(0):
            _deploy_hits(reader)
        assert _deploy_hits(reader) == expected_texts("deploy")
