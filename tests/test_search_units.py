"""Pure parts of search: context grouping, kinds, keys, and facts shared with storage."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from logbot import search
from logbot.query import parse
from logbot.render import Record
from logbot.search import Filters, SearchError, Window, group_windows, parse_kinds
from logbot.search import postgres as pg_reader
from logbot.storage import fts, migrate, schema
from logbot.storage.scripts import known_revisions


def r(i: int, channel: str = "#x", network: str = "n") -> Record:
    return Record(i, network, channel, "message", "nick", f"t{i}")


def w(
    hit: int, before: list[int], after: list[int], prev: int | None, channel: str = "#x"
) -> Window:
    return Window(
        r(hit, channel),
        tuple(r(i, channel) for i in before),
        tuple(r(i, channel) for i in after),
        prev,
    )


def shape(groups: list[list[tuple[Record, bool]]]) -> list[list[tuple[int, bool]]]:
    return [[(rec.id, hit) for rec, hit in g] for g in groups]


def test_separate_windows_stay_separate() -> None:
    """Windows with events between them are two groups (printed with -- between)."""
    groups = group_windows([w(3, [2], [4], 1), w(9, [8], [10], 7)])
    assert shape(groups) == [
        [(2, False), (3, True), (4, False)],
        [(8, False), (9, True), (10, False)],
    ]


def test_overlapping_windows_merge_and_mark_both_hits() -> None:
    """A hit inside the previous window's context merges, and is marked as a hit."""
    groups = group_windows([w(3, [2], [4], 1), w(4, [3], [5], 2)])
    assert shape(groups) == [[(2, False), (3, True), (4, True), (5, False)]]


def test_touching_windows_merge_like_grep() -> None:
    """A window starting right after the last event of the previous one joins it."""
    groups = group_windows([w(3, [2], [4], 1), w(6, [5], [7], 4)])
    assert shape(groups) == [[(2, False), (3, True), (4, False), (5, False), (6, True), (7, False)]]


def test_windows_of_other_channels_never_merge() -> None:
    """Events of another channel never join a group, even when interleaved in time."""
    groups = group_windows([w(3, [2], [4], 1, "#x"), w(4, [3], [5], 2, "#y")])
    assert len(groups) == 2
    assert {rec.channel for rec, _ in groups[1]} == {"#y"}


def test_same_channel_name_on_other_network_is_another_channel() -> None:
    """#x on two networks are two channels."""
    a = Window(r(3), (r(2),), (r(4),), 1)
    b = Window(r(4, network="m"), (r(3, network="m"),), (), 2)
    assert len(group_windows([a, b])) == 2


def test_interleaved_channels_merge_each_with_its_own() -> None:
    """A #y window between two touching #x windows does not stop them merging."""
    groups = group_windows(
        [w(3, [2], [4], 1, "#x"), w(50, [], [], None, "#y"), w(5, [4], [6], 3, "#x")]
    )
    assert shape(groups) == [
        [(2, False), (3, True), (4, False), (5, True), (6, False)],
        [(50, True)],
    ]


def test_window_at_channel_start_has_no_previous() -> None:
    """A hit on the first event of a channel has no before-context and no prev id."""
    assert shape(group_windows([w(1, [], [2], None)])) == [[(1, True), (2, False)]]


@pytest.mark.parametrize(
    ("values", "kinds"),
    [
        (["message"], ("message",)),
        (["message,action", "join"], ("message", "action", "join")),
        (["Message, ACTION,,"], ("message", "action")),
        (["quit", "quit"], ("quit",)),
        ([], ()),
    ],
)
def test_parse_kinds_reads_comma_lists(values: list[str], kinds: tuple[str, ...]) -> None:
    """--kind takes comma lists, any case, repeated, duplicates dropped."""
    assert parse_kinds(values) == kinds


def test_parse_kinds_rejects_unknown_kind() -> None:
    """An unknown kind is a one-line error naming the valid ones."""
    with pytest.raises(SearchError, match=r"^unknown kind 'msg': choose from message, action, "):
        parse_kinds(["msg"])


def test_nick_key_folds_ascii_only_like_sqlite_lower() -> None:
    """Nick comparison uses what SQL lower(nick) gives on SQLite: ASCII folding."""
    assert search.nick_key("BoB[m]") == "bob[m]"
    assert search.nick_key("ÄLICE") == "Älice"


def test_time_range_is_an_id_range_of_time_keys() -> None:
    """--since/--until become events.id bounds computed like the schema's time keys."""
    since = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    until = datetime(2026, 1, 3, tzinfo=UTC)
    assert Filters(since=since, until=until).id_range() == (
        schema.time_key(since),
        schema.time_key(until),
    )
    assert Filters().id_range() == (None, None)


def test_known_revisions_agree_with_alembic() -> None:
    """The migration files read without Alembic give Alembic's own head."""
    known, head = known_revisions()
    assert head == migrate.head_revision()
    assert head in known


def test_index_expression_is_read_from_the_index_definition() -> None:
    """The tsvector expression (or column) of the GIN index is reused, qualified for alias e."""
    indexdef = (
        "CREATE INDEX ix_events_text_fts ON public.events USING gin "
        "(to_tsvector('logbot_text'::regconfig, text))"
    )
    assert pg_reader._index_expression(indexdef, "db") == (
        "to_tsvector('logbot_text'::regconfig, e.text)"
    )
    column = "CREATE INDEX ix_events_text_fts ON public.events USING gin (text_tsv)"
    assert pg_reader._index_expression(column, "db") == fts.pg_tsvector("e") == "e.text_tsv"


def test_index_expression_with_casts_keeps_them() -> None:
    """Only the column is qualified; ::text casts and literals stay as the catalog spells them."""
    indexdef = (
        "CREATE INDEX ix ON public.events USING gin (to_tsvector('logbot_text'::regconfig, "
        "translate(text, '!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'::text, '  '::text)))"
    )
    assert pg_reader._index_expression(indexdef, "db") == (
        "to_tsvector('logbot_text'::regconfig, translate(e.text, "
        "'!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'::text, '  '::text))"
    )


def test_missing_index_expression_is_a_one_line_error() -> None:
    """A PostgreSQL database without the full-text index asks for an upgrade."""
    with pytest.raises(SearchError, match="has no full-text index"):
        pg_reader._index_expression(None, "db")


@pytest.mark.parametrize(
    ("text", "estimate", "walk"),
    [
        ("the", 1_500_000, True),  # a word in every tenth row: the first rows hold 50
        ("deploy", 70_000, False),  # a mid word: its GIN posting list is cheap to read
        ("deplo*", 200_000, True),  # a wide prefix: merging its words' lists costs more
        ("relea*", 90_000, False),  # a narrower prefix: still cheaper through the index
    ],
)
def test_postgresql_walks_the_primary_key_only_when_that_reads_less(
    text: str, estimate: float, walk: bool
) -> None:
    """The plan choice on 10M rows matches what was measured there (see the constants)."""
    assert pg_reader._walk_is_cheaper(parse(text), estimate, 10_000_000, 50) is walk


@pytest.mark.parametrize(
    ("url", "kwargs", "shown"),
    [
        (
            "postgresql+psycopg://bob:s%40cret@db.example:6543/logs",
            {"user": "bob", "password": "s@cret", "host": "db.example", "port": "6543"},
            "postgresql+psycopg://bob:***@db.example:6543/logs",
        ),
        (
            "postgresql://logbot@/logbot?host=/run/postgresql&sslmode=disable",
            {"user": "logbot", "host": "/run/postgresql", "sslmode": "disable"},
            "postgresql://logbot@/logbot?host=/run/postgresql&sslmode=disable",
        ),
        ("postgres://h/my%20db", {"host": "h", "dbname": "my db"}, "postgres://h/my%20db"),
        (
            # every special character, percent-escaped as URLs want them
            "postgresql+psycopg://u:p%40%3A%2F%3F%23%25%20%26w@h/d",
            {"user": "u", "password": "p@:/?#% &w", "host": "h", "dbname": "d"},
            "postgresql+psycopg://u:***@h/d",
        ),
        (
            # # and ? typed as they are: libpq reads them as part of the password
            "postgresql://u:p#w?x@h/d",
            {"user": "u", "password": "p#w?x", "host": "h", "dbname": "d"},
            "postgresql://u:***@h/d",
        ),
        (
            "postgresql://u@h1:5432,h2:5433/d?target_session_attrs=read-write",
            {"host": "h1,h2", "port": "5432,5433", "target_session_attrs": "read-write"},
            "postgresql://u@h1:5432,h2:5433/d?target_session_attrs=read-write",
        ),
        (
            "postgresql://h/d?application_name=mine&connect_timeout=3",
            {"application_name": "mine", "connect_timeout": "3"},
            "postgresql://h/d?application_name=mine&connect_timeout=3",
        ),
    ],
)
def test_postgresql_urls_become_libpq_settings_with_the_password_hidden(
    url: str, kwargs: dict[str, object], shown: str
) -> None:
    """The URL forms SQLAlchemy accepts reach psycopg as keywords; users never see a password."""
    got, display = search.pg_connect_args(url)
    assert {k: v for k, v in got.items() if k in kwargs} == kwargs
    assert got["application_name"] == kwargs.get("application_name", "logbot")
    assert display == shown


def test_a_postgresql_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the driver, search says which extra installs it."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg.conninfo", None)
    with pytest.raises(SearchError, match=r"pip install 'logbot\[postgres\]'"):
        search.open_reader("postgresql://h/db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://h/db", "unknown database type 'mysql'"),
        ("postgresql://h:notaport/db", "not a database URL"),
        ("postgresql://h/db?no_such_key=1", 'invalid URI query parameter: "no_such_key"'),
        (
            "postgresql://u:pw%zz@h/db",
            r"^not a database URL or file path: 'postgresql://u:\*\*\*@h/db'$",
        ),
    ],
)
def test_bad_database_urls_are_one_line_search_errors(url: str, message: str) -> None:
    """A URL search cannot use says so without a traceback."""
    with pytest.raises(SearchError, match=message):
        search.open_reader(url)
