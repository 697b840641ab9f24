"""`logbot search`, `logbot export`, `logbot import` as a user runs them: output, exit status
0/1/2, one-line errors without a traceback, and archives moved between engines."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from logbot.cli import main
from tests.conftest import pg_database
from tests.test_search import EVENTS

ARCHIVE = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in EVENTS)


def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env={"TZ": "UTC", **(env or {})})


def assert_clean_error(result: Result, *fragments: str) -> None:
    """Exit 2, a single 'Error:' line on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    err = result.stderr
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "expected a message on stderr"
    assert lines[-1].startswith("Error:")
    for fragment in fragments:
        assert fragment in err


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "logbot.sqlite"
    result = CliRunner().invoke(main, ["import", "--db", str(path), "-"], input=ARCHIVE)
    assert result.exit_code == 0, result.output
    return str(path)


def test_search_prints_text_lines_oldest_first_and_exits_0(db: str) -> None:
    """Matches print as `YYYY-MM-DD HH:MM:SS #chan <nick> text`, oldest first; exit 0."""
    result = run("search", "release", "--db", db, "--limit", "3")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2026-03-02 12:01:00 #x <Bob> day two release candidate",
        "2026-03-03 12:00:00 #X <alice> release day three",
        "2026-03-04 12:00:00 #x <carol> release day four, final",
    ]


def test_search_with_nothing_found_exits_1_silently(db: str) -> None:
    """No match: nothing on stdout, exit 1 (like grep)."""
    result = run("search", "nosuchword", "--db", db)
    assert result.exit_code == 1
    assert result.stdout == ""


def test_unquoted_words_and_exclusions_form_one_query(db: str) -> None:
    """`logbot search deploy -staging` works without quotes: -staging excludes."""
    result = run("search", "deploy*", "-staging", "--db", db, "--format", "json")
    assert result.exit_code == 0
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == [
        "deployment done on prod",
        "deploy deploy deploy",
    ]


def test_json_format_is_one_object_a_line(db: str) -> None:
    """--format json prints the contract's keys with the UTC time."""
    result = run("search", "jalapeno", "--db", db, "--format", "json")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        '{"time": "2026-03-01T12:09:00.000000+00:00", "network": "libera", "channel": "#x", '
        '"nick": "carol", "kind": "message", "text": "Jalapeño poppers"}',
        '{"time": "2026-03-01T12:10:00.000000+00:00", "network": "libera", "channel": "#x", '
        '"nick": "Bob", "kind": "message", "text": "jalapeno without the tilde"}',
    ]


def test_csv_format_has_a_header(db: str) -> None:
    """--format csv prints a header and one row per match."""
    result = run("search", "café", "--db", db, "--format", "csv")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "time,network,channel,nick,kind,text,target,userhost",
        "2026-03-01T13:04:00.000000+00:00,libera,#y,Bob,message,café au lait,,",
    ]


def test_count_prints_the_number(db: str) -> None:
    """--count prints how many events match, whatever --limit says."""
    result = run("search", "release", "--db", db, "--count", "--limit", "1")
    assert result.exit_code == 0
    assert result.stdout == "12\n"
    none = run("search", "nosuchword", "--db", db, "--count")
    assert (none.exit_code, none.stdout) == (1, "0\n")


def test_context_separates_groups_with_dashes(db: str) -> None:
    """--context N prints neighbours and -- between groups, grep -C style."""
    result = run("search", "jalapeno OR final", "--db", db, "--context", "1")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2026-03-01 12:08:00 #x <foo[m]> ping foo_bar and [m]alice",
        "2026-03-01 12:09:00 #x <carol> Jalapeño poppers",
        "2026-03-01 12:10:00 #x <Bob> jalapeno without the tilde",
        "2026-03-01 12:11:00 #x * carol waves at everyone",
        "--",
        "2026-03-02 12:01:00 #x <Bob> day two release candidate",
        "2026-03-04 12:00:00 #x <carol> release day four, final",
        "2026-03-04 12:01:00 #x <alice> version v1.2.3 is 1.5 times faster",
    ]


def test_color_always_highlights_and_auto_does_not_in_a_pipe(db: str) -> None:
    """--color always marks the matched words; auto leaves a pipe's output plain."""
    colored = run("search", "jalapeno", "--db", db, "--color", "always", "--limit", "1")
    assert "\x1b[1;31mjalapeno\x1b[0m without the tilde" in colored.stdout
    plain = run("search", "jalapeno", "--db", db, "--limit", "1")
    assert "\x1b" not in plain.stdout


def test_no_query_tails_the_archive_with_filters(db: str) -> None:
    """Without QUERY the newest events passing the filters are printed."""
    result = run("search", "--db", db, "--channel", "#y", "--kind", "kick,nick")
    assert result.stdout.splitlines() == [
        "2026-03-01 13:07:00 #y <-- op has kicked spammer from #y (spam)",
        "2026-03-01 13:08:00 #y alice is now known as alice2",
    ]


def test_since_and_until_accept_every_when_form(db: str) -> None:
    """--since/--until take ISO dates, spans and words; local time is TZ's."""
    result = run(
        "search", "release", "--db", db, "--since", "2026-03-02", "--until", "2026-03-03 12:00"
    )
    assert result.stdout.splitlines() == [
        "2026-03-02 12:00:00 #x <alice> release day two",
        "2026-03-02 12:01:00 #x <Bob> day two release candidate",
    ]
    assert run("search", "release", "--db", db, "--since", "1d").exit_code == 1


def test_unknown_channel_exits_1_with_a_note(db: str) -> None:
    """A channel the database does not have: exit 1 and a note on stderr."""
    result = run("search", "release", "--db", db, "--channel", "#nope")
    assert result.exit_code == 1
    assert "no channel #nope in" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["search", '"unbalanced'], ["unbalanced quote"]),
        (["search", "AND", "OR"], ["the query starts with AND"]),
        (["search", "*"], ["matches everything"]),
        (["search", "-"], ["a lone '-'"]),
        (["search", "-x"], ["only excluded terms"]),
        (["search", "NEAR(", "x", "--since", "garbage"], ["cannot read date 'garbage'"]),
        (["search", "x", "--until", "2024-13-45"], ["cannot read date '2024-13-45'"]),
        (["search", "x", "--since", "today", "--until", "yesterday"], ["is not before --until"]),
        (["search", "x", "--kind", "msg"], ["unknown kind 'msg'"]),
        (["search", "--rank"], ["--rank", "needs a QUERY"]),
        (["export", "--since", "nonsense"], ["cannot read date 'nonsense'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(db: str, args: list[str], fragments: list[str]) -> None:
    """Bad queries, dates, kinds and option combinations: one error line, exit 2."""
    assert_clean_error(run(*args, "--db", db), *fragments)


def test_near_syntax_is_just_a_word(db: str) -> None:
    """FTS5 syntax typed by a user is not obeyed: NEAR( searches the word near."""
    assert run("search", "NEAR(", "--db", db).exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["search", "x", "--limit", "-1"],
        ["search", "x", "--format", "xml"],
        ["search", "x", "--context", "many"],
        ["search", "x", "--color", "sometimes"],
        ["search", "x", "--lmit", "5"],
    ],
)
def test_usage_errors_exit_2_with_usage(db: str, args: list[str]) -> None:
    """Bad option values and unknown options are click usage errors: exit 2, no traceback."""
    result = run(*args, "--db", db)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Usage:" in result.stderr


def test_missing_database_file_is_exit_2(tmp_path: Path) -> None:
    """Search never creates a database: a missing file is an error."""
    missing = tmp_path / "none.sqlite"
    assert_clean_error(run("search", "x", "--db", str(missing)), "no database at")
    assert not missing.exists()


def test_default_database_is_the_per_user_file(tmp_path: Path) -> None:
    """With no --db, search reads $XDG_DATA_HOME/logbot/logbot.sqlite (and does not create it)."""
    result = run("search", "x", env={"XDG_DATA_HOME": str(tmp_path)})
    assert_clean_error(result, str(tmp_path / "logbot" / "logbot.sqlite"))
    assert not (tmp_path / "logbot").exists()


def test_corrupt_database_file_is_exit_2(tmp_path: Path) -> None:
    """A file that is not a database is a one-line error."""
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(8192)))
    assert_clean_error(run("search", "x", "--db", str(bad)), "file is not a database")


def test_empty_sqlite_file_is_not_a_logbot_database(tmp_path: Path) -> None:
    """An empty file (an empty SQLite database) is refused, not searched."""
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert_clean_error(run("search", "x", "--db", str(empty)), "is not a logbot database")


def test_directory_as_database_is_exit_2(tmp_path: Path) -> None:
    """A directory given as --db is a one-line error."""
    assert_clean_error(run("search", "x", "--db", str(tmp_path)), "is a directory")


def test_database_of_a_newer_schema_is_exit_2(tmp_path: Path, db: str) -> None:
    """A database written by a newer logbot (unknown revision) is refused."""
    newer = tmp_path / "newer.sqlite"
    newer.write_bytes(Path(db).read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    assert_clean_error(
        run("search", "release", "--db", str(newer)), "9999_future", "newer than this logbot"
    )


def test_database_of_an_older_schema_is_searched_with_a_note(tmp_path: Path, db: str) -> None:
    """A database not yet upgraded is still searched; a note says how to upgrade it."""
    older = tmp_path / "older.sqlite"
    older.write_bytes(Path(db).read_bytes())
    with sqlite3.connect(older) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    result = run("search", "jalapeno", "--db", str(older))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 2
    assert "older schema revision 0001" in result.stderr
    assert "logbot db upgrade" in result.stderr


def test_unreachable_postgresql_is_exit_2() -> None:
    """A PostgreSQL URL nobody answers is a one-line error."""
    result = run("search", "x", "--db", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    assert_clean_error(result)


def test_unknown_database_url_is_exit_2() -> None:
    """A URL of an unknown database type is a one-line error."""
    assert_clean_error(run("search", "x", "--db", "mysqlx://h/db"), "mysqlx")


def test_search_help_describes_the_query_language() -> None:
    """search, export and import all have help."""
    for command in ("search", "export", "import"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Usage:" in result.stdout
    assert '"a phrase", prefix*' in run("search", "--help").stdout


# --- import and export -----------------------------------------------------------------


def search_json(db: str, *args: str) -> list[str]:
    result = run("search", "--db", db, "--limit", "0", "--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    return result.stdout.splitlines()


def test_import_twice_adds_nothing(tmp_path: Path) -> None:
    """The same file imported again adds no event."""
    target = str(tmp_path / "twice.sqlite")
    first = run("import", "--db", target, "-", input=ARCHIVE)
    assert first.exit_code == 0
    assert f"imported {len(EVENTS)} events" in first.stderr
    before = search_json(target)
    second = run("import", "--db", target, "-", input=ARCHIVE)
    assert second.exit_code == 0
    assert f"imported 0 events, {len(EVENTS)} already present" in second.stderr
    assert search_json(target) == before


def test_import_in_any_order_comes_out_in_time_order(tmp_path: Path) -> None:
    """Shuffled lines, and history older than what is stored, still print in time order."""
    lines = ARCHIVE.splitlines(keepends=True)
    newer, older = lines[len(lines) // 2 :], lines[: len(lines) // 2]
    random.Random(7).shuffle(newer)
    random.Random(8).shuffle(older)
    target = str(tmp_path / "order.sqlite")
    assert run("import", "--db", target, "-", input="".join(newer)).exit_code == 0
    assert run("import", "--db", target, "-", input="".join(older)).exit_code == 0
    assert [json.loads(x)["text"] for x in search_json(target)] == [e["text"] for e in EVENTS]


def test_import_reads_a_file_argument(tmp_path: Path) -> None:
    """import FILE reads the file; a missing FILE is a usage error."""
    src = tmp_path / "a.jsonl"
    src.write_text(ARCHIVE, encoding="utf-8")
    target = str(tmp_path / "file.sqlite")
    assert run("import", "--db", target, str(src)).exit_code == 0
    assert len(search_json(target)) == len(EVENTS)
    assert run("import", "--db", target, str(tmp_path / "missing.jsonl")).exit_code == 2


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json", "<stdin>:2: not a JSON object"),
        ("[1, 2]", "<stdin>:2: not a JSON object"),
        (
            '{"time": "2026-01-01T00:00:00+00:00", "network": "n", "channel": "#x", "nick": "a"}',
            "<stdin>:2: missing 'kind'",
        ),
        (
            '{"time": "yesterday", "network": "n", "channel": "#x", "nick": "a", '
            '"kind": "message"}',
            "<stdin>:2: 'time' is not an ISO-8601 time",
        ),
        (
            '{"time": "2026-01-01T00:00:00Z", "network": "n", "channel": "#x", "nick": "a", '
            '"kind": "shout"}',
            "<stdin>:2: unknown kind 'shout'",
        ),
        (
            '{"time": "2026-01-01T00:00:00Z", "network": "n", "channel": "#x", "nick": 5, '
            '"kind": "message"}',
            "<stdin>:2: 'nick' must be a string",
        ),
        (
            '{"time": "1900-01-01T00:00:00Z", "network": "n", "channel": "#x", "nick": "a", '
            '"kind": "message"}',
            "<stdin>:2: time '1900-01-01T00:00:00Z' is outside",
        ),
        (
            '{"time": "2026-01-01T00:00:00Z", "network": "n", "channel": "#x", "nick": "a", '
            '"kind": ["message"]}',
            "<stdin>:2: 'kind' must be a string, not list",
        ),
        (
            '{"time": "2026-01-01T00:00:00Z", "network": "n", "channel": "#x", "nick": "a", '
            '"kind": {"is": "message"}}',
            "<stdin>:2: 'kind' must be a string, not dict",
        ),
    ],
)
def test_import_of_a_bad_line_names_file_and_line(tmp_path: Path, line: str, fragment: str) -> None:
    """A malformed line stops the import with FILE:LINE and what is wrong; exit 2."""
    good = json.dumps(EVENTS[1]) + "\n"
    result = run("import", "--db", str(tmp_path / "bad.sqlite"), "-", input=good + line + "\n")
    assert_clean_error(result, fragment)


def test_import_into_an_unusable_target_is_a_clean_error(tmp_path: Path) -> None:
    """A --db that cannot be a database (a directory) is a one-line error, exit 2."""
    result = run("import", "--db", str(tmp_path), "-", input=ARCHIVE)
    assert_clean_error(result, "is a directory")


BERLIN = "CET-1CEST,M3.5.0,M10.5.0/3"


@pytest.fixture
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Local time is Berlin's (a POSIX TZ: no tzdata needed) for this test only."""
    monkeypatch.setenv("TZ", BERLIN)
    time.tzset()
    yield BERLIN
    monkeypatch.undo()
    time.tzset()


def test_export_as_text_is_the_text_logs_lines_in_local_time(db: str, berlin_time: str) -> None:
    """--format text: the text log's lines with its date lines; one named channel, no channel."""
    berlin = berlin_time
    every = run("export", "--db", db, "--format", "text", env={"TZ": berlin})
    assert every.exit_code == 0, every.output
    lines = every.stdout.splitlines()
    assert lines[:3] == [
        "[13:00:00] --- Log opened Sun Mar 01 2026",
        "[13:00:00] #x --> alice (alice@example.org) has joined #x",
        "[13:01:00] #x <alice> the release date is friday",
    ]
    assert "[00:00:00] --- Day changed Mon Mar 02 2026" in lines
    assert len([line for line in lines if "---" not in line]) == len(EVENTS)
    one = run(
        *("export", "--db", db, "--format", "text", "--network", "libera", "--channel", "#y"),
        env={"TZ": berlin},
    )
    assert one.stdout.splitlines()[:2] == [
        "[14:00:00] --- Log opened Sun Mar 01 2026",
        "[14:00:00] <alice> Привет, МИР",
    ]


def test_export_of_a_missing_database_is_a_clean_error(tmp_path: Path) -> None:
    """export never creates a database either."""
    result = run("export", "--db", str(tmp_path / "none.sqlite"))
    assert_clean_error(result, "no database at")
    assert not (tmp_path / "none.sqlite").exists()


def test_import_of_invalid_utf8_is_a_clean_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a one-line error, not a crash."""
    result = run("import", "--db", str(tmp_path / "u.sqlite"), "-", input=b'{"text": "\xff"}\n')
    assert_clean_error(result, "<stdin>:1:")


@pytest.fixture
def pg_db(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own on the test server."""
    with pg_database(pg_server_url, "logbot_cli") as url:
        yield url


@pytest.mark.postgres
def test_export_import_round_trip_sqlite_postgresql_and_back(
    db: str, pg_db: str, tmp_path: Path
) -> None:
    """export | import moves the archive SQLite -> PostgreSQL -> SQLite with identical results."""
    exported = run("export", "--db", db)
    assert exported.exit_code == 0
    assert run("import", "--db", pg_db, "-", input=exported.stdout).exit_code == 0
    back = str(tmp_path / "back.sqlite")
    from_pg = run("export", "--db", pg_db)
    assert from_pg.stdout == exported.stdout
    assert run("import", "--db", back, "-", input=from_pg.stdout).exit_code == 0
    for args in (
        (),
        ("release",),
        ("--channel", "#y", "--format", "text"),
        ("deplo*", "--nick", "bob", "--format", "csv"),
        ("--kind", "kick,nick,join,part,quit"),
        ("jalapeno", "--context", "2", "--format", "text"),
    ):
        a, b, c = (search_json(x, *args) for x in (db, pg_db, back))
        assert a == b == c, args
        assert a


@pytest.mark.postgres
def test_search_on_postgresql_prints_the_same_as_sqlite(db: str, pg_db: str) -> None:
    """The same archive in PostgreSQL answers searches exactly as SQLite does."""
    assert run("import", "--db", pg_db, "-", input=ARCHIVE).exit_code == 0
    for args in (
        ("release", "--limit", "3"),
        ("мир",),
        ("jalapeno", "--count"),
        ("--since", "2026-03-03"),
    ):
        sqlite_out = run("search", "--db", db, *args)
        pg_out = run("search", "--db", pg_db, *args)
        assert (pg_out.exit_code, pg_out.stdout) == (sqlite_out.exit_code, sqlite_out.stdout)


def _heavy_modules_of_a_search(target: str) -> str:
    code = (
        "import sys, logbot.cli\n"
        "assert 'twisted' not in sys.modules\n"
        "try:\n"
        f"    logbot.cli.main(['search', 'release', '--db', {target!r}, '--since', '2026-03-01'])\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'twisted', 'sqlalchemy', 'alembic', 'psycopg', 'dateutil', 'dataclasses'})\n"
        "print('STATUS', status, heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    return proc.stderr


def test_search_imports_no_twisted_and_no_sqlalchemy(db: str) -> None:
    """A SQLite search loads neither Twisted nor SQLAlchemy (start-up time)."""
    stderr = _heavy_modules_of_a_search(db)
    assert "STATUS 0 []" in stderr, stderr


#: what a SQLite search may import beyond ``import sqlite3, click`` (and logbot's own
#: modules): the start-up budget of `logbot search` (issue #15). Growing this list costs
#: every search its import time: make the new import lazy instead.
_SEARCH_MAY_ADD = {"heapq", "_heapq", "unicodedata", "string", "_string", "locale", "_locale"}

_MODULES = "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code + _MODULES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return set(proc.stderr.split("\n")[-2].split())


def test_search_imports_nothing_beyond_sqlite3_and_click_but_its_own_modules(db: str) -> None:
    """A SQLite search imports only what ``import sqlite3, click`` does, logbot's search
    modules and a few small standard ones; not the bot's run options either."""
    floor = _modules_after("import sqlite3, click\n")
    searched = _modules_after(
        "import logbot.cli\n"
        "try:\n"
        f"    logbot.cli.main(['search', 'release', '--db', {db!r}, '--limit', '5'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "assert not logbot.cli.main._run_options_added\n"
    )
    assert "logbot.search.sqlite" in searched
    extra = {m for m in searched - floor if m.split(".")[0] != "logbot"}
    assert extra <= _SEARCH_MAY_ADD, sorted(extra - _SEARCH_MAY_ADD)
    for heavy in ("sqlalchemy", "alembic", "twisted", "pathlib", "json", "dataclasses"):
        assert heavy not in searched


def test_search_help_imports_no_search_module() -> None:
    """``logbot search --help`` loads neither the search modules nor the run options."""
    loaded = _modules_after(
        "import logbot.cli\n"
        "try:\n"
        "    logbot.cli.main(['search', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert not logbot.cli.main._run_options_added\n"
    )
    assert "logbot.cli" in loaded
    assert not {m for m in loaded if m.startswith("logbot.search")}


@pytest.mark.postgres
def test_search_on_postgresql_loads_psycopg_but_not_sqlalchemy(db: str, pg_db: str) -> None:
    """A PostgreSQL search reads with psycopg alone (SQLAlchemy costs ~0.2 s of start-up)."""
    exported = run("export", "--db", db)
    assert exported.exit_code == 0
    assert run("import", "--db", pg_db, "-", input=exported.stdout).exit_code == 0
    stderr = _heavy_modules_of_a_search(pg_db)
    assert "STATUS 0 [" in stderr, stderr
    assert "'psycopg'" in stderr
    for heavy in ("sqlalchemy", "alembic", "twisted"):
        assert f"'{heavy}'" not in stderr, stderr


@pytest.mark.parametrize(
    "name",
    ["with space.sqlite", "what?.sqlite", "hash#1.sqlite", "50%.sqlite", "ünï.sqlite"],
)
def test_search_opens_a_database_whatever_its_file_name(tmp_path: Path, db: str, name: str) -> None:
    """A file name with characters a ``file:`` URI gives a meaning to is still the file."""
    target = tmp_path / name
    shutil.copyfile(db, target)
    found = run("search", "--db", str(target), "release", "--count")
    assert found.exit_code == 0, found.output
    assert found.stdout == run("search", "--db", db, "release", "--count").stdout


def test_search_opens_a_database_whose_name_is_not_utf8(tmp_path: Path, db: str) -> None:
    """A file name that is not UTF-8 (bytes a Linux file system allows) opens too."""
    target = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.sqlite")
    try:
        shutil.copyfile(db, target)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    found = run("search", "--db", target, "release", "--count")
    assert found.exit_code == 0, found.output


def _msgid_archive() -> str:
    lines = [
        {
            "time": "2026-05-01T12:00:00+00:00",
            "network": "net",
            "channel": "#x",
            "nick": "al",
            "kind": "message",
            "text": "with an id",
            "msgid": "abc-1",
        },
        {
            "time": "2026-05-01T12:00:01+00:00",
            "network": "net",
            "channel": "#x",
            "nick": "al",
            "kind": "message",
            "text": "without",
        },
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize(
    "engine_name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_msgid_goes_through_import_export_and_search_json_only_when_present(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The server's msgid is kept: in JSON as "msgid" where there is one, absent otherwise."""
    target = (
        str(tmp_path / "ids.sqlite")
        if engine_name == "sqlite"
        else request.getfixturevalue("pg_db")
    )
    assert run("import", "--db", target, "-", input=_msgid_archive()).exit_code == 0
    exported = [json.loads(line) for line in run("export", "--db", target).stdout.splitlines()]
    assert [e.get("msgid") for e in exported] == ["abc-1", None]
    assert "msgid" not in exported[1]
    assert [json.loads(line).get("msgid") for line in search_json(target, "id")] == ["abc-1"]
    text = run("search", "--db", target, "--format", "text", "with")
    assert "abc-1" not in text.stdout


def test_a_database_from_before_msgid_is_still_searched(tmp_path: Path) -> None:
    """Schema 0002 has no msgid column: search reads it all the same, with the upgrade note."""
    import sqlalchemy as sa
    from alembic import command

    from logbot.storage import migrate
    from logbot.storage.engine import make_engine
    from logbot.storage.names import time_key

    path = tmp_path / "old.sqlite"
    engine = make_engine(str(path))
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0002")
        conn.execute(sa.text("INSERT INTO channels VALUES (1, 'net', '#x', '#x')"))
        conn.execute(
            sa.text(
                "INSERT INTO events (id, channel_id, kind, nick, text) "
                "VALUES (:k, 1, 'message', 'al', 'old words')"
            ),
            {"k": time_key(datetime(2026, 5, 1, tzinfo=UTC))},
        )
        conn.execute(sa.text("INSERT INTO events_fts(events_fts) VALUES ('rebuild')"))
    engine.dispose()
    result = run("search", "--db", str(path), "old", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == "old words"
    assert "older schema revision 0002" in result.stderr
