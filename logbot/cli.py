"""The `logbot` command: parse, call, print. Nothing else lives here.

Heavy imports (Twisted, SQLAlchemy) happen inside the commands that need them, so that
``logbot search`` starts fast.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from logbot import __version__
from logbot.importers import FORMATS
from logbot.setting_keys import ENV_PREFIX

if TYPE_CHECKING:
    from logbot.setting_keys import Key
    from logbot.settings import Settings


class UsageFailure(click.ClickException):
    """A wrong command, option, file or setting: ``Error: MESSAGE`` on stderr, exit 2."""

    exit_code = 2


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _run_option(key: Key) -> click.Option:
    """The click option of a run setting, from its entry in logbot.setting_keys.KEYS."""
    assert key.flag is not None
    extra: dict[str, Any] = {}
    if key.flag_type is bool:
        name = key.option[2:]
        decls = [f"--{name}/--no-{name}"]
        extra["default"] = key.default
    else:
        decls = [key.option]
        if key.choices:
            extra["type"] = click.Choice(list(key.choices), case_sensitive=False)
        elif key.flag_type is int:
            extra["type"] = click.IntRange(
                None if key.minimum is None else int(key.minimum),
                None if key.maximum is None else int(key.maximum),
            )
        elif key.flag_type is float:
            extra["type"] = click.FloatRange(key.minimum, key.maximum)
        if key.default is not None:
            extra["default"] = key.default
            extra["show_default"] = True
    return click.Option(
        [*decls, key.flag],
        envvar=key.env,
        multiple=key.multiple,
        metavar=key.metavar,
        help=key.help,
        **extra,
    )


class _RunOptions:
    """The run options the user set (flags or LOGBOT_* variables), by option name."""

    def __init__(self, ctx: click.Context, options: dict[str, Any]) -> None:
        sources = {name: ctx.get_parameter_source(name) for name in options}
        self.given = {
            name: value
            for name, value in options.items()
            if sources[name] in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
        }
        self.from_env = frozenset(
            name for name in self.given if sources[name] == ParameterSource.ENVIRONMENT
        )
        #: the group's --config (or LOGBOT_CONFIG), for subcommands that read the settings
        self.config_file: str | None = None


class _Root(click.Group):
    """The ``logbot`` group. Its run options (~40, built from logbot.setting_keys) are made
    only when they can apply: a run, ``--help``, ``config``. ``logbot search`` and the other
    commands that ignore them never pay for building them (start-up time)."""

    _run_options_added = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not self._run_options_added and not (
            args and args[0] in self.commands and args[0] != "config"
        ):
            self._add_run_options()
        return super().parse_args(ctx, args)

    def _add_run_options(self) -> None:
        from logbot.setting_keys import KEYS

        options = [_run_option(key) for key in KEYS if key.flag is not None]
        # after --version and before --config, as they are listed in --help
        at = next(i for i, p in enumerate(self.params) if p.name == "config_file")
        self.params[at:at] = options
        self._run_options_added = True


@click.group(
    name="logbot",
    cls=_Root,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="logbot")
@click.option(
    "--config",
    "config_file",
    envvar=_env("config"),
    type=click.Path(dir_okay=False),
    metavar="FILE.toml",
    help="TOML config file (several networks, secrets from files).",
)
@click.pass_context
def main(ctx: click.Context, /, config_file: str | None, **options: Any) -> None:
    """Log IRC channels; find any line again with `logbot search`.

    With no subcommand, runs the bot:

        logbot --server irc.libera.chat --channel '#x' --file log.txt
    """
    # What a run would take from the command line and from LOGBOT_* variables; `config
    # check` reads it too, so that it reports what a run in this environment would do.
    ctx.obj = _RunOptions(ctx, options)
    ctx.obj.config_file = config_file
    if ctx.invoked_subcommand is not None:
        return
    from logbot.config import ConfigError, build_settings

    try:
        settings = build_settings(ctx.obj.given, config_file, os.environ, from_env=ctx.obj.from_env)
    except ConfigError as exc:
        raise click.UsageError(str(exc), ctx) from None

    from logbot.service import StartupError, run

    try:
        status = run(settings)
    except StartupError as exc:
        raise UsageFailure(str(exc)) from None
    sys.exit(status)


@main.group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False))
@click.pass_obj
def config_check(run_options: _RunOptions, file: str) -> None:
    """Validate FILE and print what would run (secrets masked); exit 2 if it is wrong.

    Secrets named by *_env keys and ${VAR} in paths are looked up in this environment
    (e.g. CREDENTIALS_DIRECTORY=/etc/logbot logbot config check /etc/logbot/logbot.toml),
    and LOGBOT_* variables (and run flags before `config`) apply as they would to a run.
    """
    from logbot.config import ConfigError, build_settings, describe

    try:
        settings = build_settings(
            run_options.given, file, os.environ, from_env=run_options.from_env
        )
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    click.echo(describe(settings))


# --- search, export, import: only the standard library, click and logbot's own search
# modules are imported on the way to a SQLite search (tests/test_cli_search.py checks it).


def _fail(exc: BaseException) -> None:
    # Always raises; typed None (not NoReturn) so callers' `return` after it stay valid.
    raise UsageFailure(str(exc)) from None


def _emit(lines: Any, *, utf8: bool) -> None:
    """Print lines fast; JSON and CSV are always UTF-8, text follows the terminal."""
    try:
        if utf8:
            out = sys.stdout.buffer
            chunk: list[str] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) >= 2000:
                    out.write(("\n".join(chunk) + "\n").encode("utf-8", "surrogateescape"))
                    chunk = []
            if chunk:
                out.write(("\n".join(chunk) + "\n").encode("utf-8", "surrogateescape"))
        else:
            out_text = sys.stdout
            reconfigure = getattr(out_text, "reconfigure", None)
            if reconfigure is not None:
                # a terminal that cannot show a character gets a ?, not a crash
                reconfigure(errors="replace")
            for line in lines:
                out_text.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # `logbot search ... | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


def _db_option(f: Any) -> Any:
    return click.option(
        "--db",
        envvar=_env("db"),
        metavar="PATH_OR_URL",
        help="SQLite file or SQLAlchemy URL [default: SQLite in the user data dir].",
    )(f)


def _filter_options(f: Any) -> Any:
    options = [
        click.option("--network", metavar="NET", help="Only this network."),
        click.option(
            "--channel", multiple=True, metavar="C", help="Only this channel (repeatable)."
        ),
        click.option(
            "--nick", multiple=True, metavar="N", help="Only events by this nick (repeatable)."
        ),
        click.option(
            "--kind",
            multiple=True,
            metavar="K",
            help="Only these kinds, a comma list: message, action, notice, join, part, quit, "
            "kick, nick, topic, mode.",
        ),
        click.option(
            "--since",
            metavar="WHEN",
            help="From this time on: 2024-05-01, '2024-05-01 12:00', today, yesterday, 7d, "
            "12h, 30m, or what dateutil reads; local time unless an offset is given.",
        ),
        click.option("--until", metavar="WHEN", help="Before this time (same forms as --since)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, metavar="[QUERY]")
@_db_option
@_filter_options
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    metavar="N",
    help="The newest N matches (0: all).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
)
@click.option(
    "--context",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also N events before and after each match in its channel (groups split by --).",
)
@click.option("--count", is_flag=True, help="Print only how many events match.")
@click.option("--rank", is_flag=True, help="Order by relevance (best first) instead of time.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Highlight matches (auto: when printing to a terminal).",
)
def search(
    query: tuple[str, ...],
    db: str | None,
    network: str | None,
    channel: tuple[str, ...],
    nick: tuple[str, ...],
    kind: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    fmt: str,
    context: int,
    count: bool,
    rank: bool,
    color: str,
) -> None:
    """Find stored events; print the newest matches, oldest first.

    QUERY: words that must all match, "a phrase", prefix*, OR between words, -word to
    exclude. Case and accents do not matter. Without QUERY: the newest events that pass the
    filters. Exit status: 0 found, 1 nothing found, 2 error.

        logbot search 'release date' --channel '#x' --since yesterday
    """
    from logbot import render
    from logbot import search as searching
    from logbot.query import highlight_spans

    for word in query:
        if word.startswith("--"):
            raise click.NoSuchOption(word.split("=", 1)[0])
    request = searching.SearchRequest(
        query=" ".join(query) if query else None,
        db=db,
        network=network,
        channels=channel,
        nicks=nick,
        kinds=kind,
        since=since,
        until=until,
        limit=limit or None,
        context=context,
        count_only=count,
        rank=rank,
    )
    try:
        outcome = searching.run_search(request)
    except searching.USER_ERRORS as exc:
        _fail(exc)
        return
    for note in outcome.notes:
        click.echo(f"logbot: {note}", err=True)
    if outcome.count is not None:
        click.echo(str(outcome.count))
    else:
        use_color = color == "always" or (
            color == "auto"
            and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )
        parsed = outcome.query

        def highlight(text: str) -> list[tuple[int, int]]:
            return highlight_spans(parsed, text) if parsed is not None else []

        lines = render.result_lines(outcome.groups, fmt, color=use_color, highlight=highlight)
        _emit(lines, utf8=fmt != "text")
    sys.exit(0 if outcome.found else 1)


@main.command()
@_db_option
@_filter_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="json: the `search --format json` lines; text: the text log's lines, local time.",
)
def export(
    db: str | None,
    network: str | None,
    channel: tuple[str, ...],
    nick: tuple[str, ...],
    kind: tuple[str, ...],
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """Write stored events, oldest first: JSON lines (the `search --format json` lines) or
    the text log's lines (--format text; the channel on each line unless one is named).

    Moves an archive: logbot export --db A | logbot import --db B
    """
    from logbot import archive
    from logbot import search as searching

    request = searching.SearchRequest(
        db=db,
        network=network,
        channels=channel,
        nicks=nick,
        kinds=kind,
        since=since,
        until=until,
    )
    try:
        filters = searching.build_filters(request)
        with searching.open_reader(db) as reader:
            for note in reader.notes:
                click.echo(f"logbot: {note}", err=True)
            for name in reader.resolve(filters)[1]:
                click.echo(f"logbot: no channel {name} in {reader.description}", err=True)
            if fmt == "text":
                one = len(channel) == 1 and network is not None
                lines = archive.export_text_lines(reader, filters, multi_channel=not one)
                _emit(lines, utf8=True)
            else:
                _emit(archive.export_lines(reader, filters), utf8=True)
    except (*searching.USER_ERRORS, archive.ArchiveError) as exc:
        _fail(exc)


@main.command("import")
@_db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="The files' format; auto recognises each file by its content and path.",
)
@click.option("--network", help="The network of the events (instead of the one the path says).")
@click.option("--channel", help="The channel of the events (instead of the one the path says).")
@click.option(
    "--tz",
    "zone",
    metavar="ZONE",
    help="The zone the logging machine wrote its times in, e.g. Europe/Berlin "
    "(default: this machine's).",
)
@click.argument("paths", nargs=-1, metavar="[PATH... | -]")
def import_(
    db: str | None,
    fmt: str,
    network: str | None,
    channel: str | None,
    zone: str | None,
    paths: tuple[str, ...],
) -> None:
    """Store events from JSON lines or other programs' logs (ZNC, irssi, WeeChat, ...).

    PATH is a file or a directory (walked); .gz files are read as they are. Network,
    channel and date come from where each program keeps its files. Creates or upgrades
    the database; importing the same files again adds nothing. Reads JSON lines from
    standard input when PATH is - or missing.

    Exit status: 0, 1 when nothing was importable, 2 for a bad argument or an unreadable
    path.
    """
    from logbot import archive

    tz = _import_zone(zone)
    if not paths or paths == ("-",):
        if fmt not in ("auto", "jsonl"):
            _fail(click.UsageError(f"standard input is read as JSON lines, not {fmt}"))
        _import_stdin(db, tz)
        return
    if "-" in paths:
        _fail(click.UsageError("- (standard input) cannot be mixed with files"))
    from logbot.importers.sources import Report, SourceError, batches, plan

    try:
        found = plan(list(paths), fmt, network=network, channel=channel)
    except SourceError as exc:
        _fail(exc)
        return
    report = Report()
    stats = archive.ImportStats()
    local = tz if tz is not None else _machine_zone()
    rows = batches(found.sources, local, report, stats, json_tz=tz)
    try:
        if sys.stderr.isatty() and found.sources:
            with click.progressbar(
                length=max(found.total_bytes, 1), label="importing", file=sys.stderr
            ) as bar:
                left = [found.total_bytes]

                def advance(n: int) -> None:
                    # JSON .gz files count uncompressed bytes: never past the end
                    step = min(n, left[0])
                    left[0] -= step
                    bar.update(step)

                stats = archive.import_batches(
                    db, rows, stats=stats, progress=advance, indexing=_say_indexing
                )
        else:
            stats = archive.import_batches(db, rows, stats=stats)
    except archive.ArchiveError as exc:
        _fail(exc)
        return
    except OSError as exc:
        _fail(archive.ArchiveError(f"cannot read {exc.filename}: {exc.strerror}"))
        return
    parts = [f"imported {stats.inserted} events"]
    if stats.duplicates:
        parts.append(f"{stats.duplicates} already present")
    if stats.rejected:
        parts.append(f"{stats.rejected} refused by the database")
    lines = stats.lines + report.lines
    files = f" from {report.files} files" if report.files > 1 else ""
    summary = f"{', '.join(parts)} ({lines} lines read{files})"
    if report.unparsed:
        more = ", ..." if report.unparsed > len(report.unparsed_at) else ""
        summary += (
            f"; {report.unparsed} lines not understood: {', '.join(report.unparsed_at)}{more}"
        )
        if report.no_channel:
            summary += f" ({report.no_channel} name no channel: give --channel)"
    if found.ignored:
        path, why = found.ignored[0]
        more = f" and {len(found.ignored) - 1} more" if len(found.ignored) > 1 else ""
        summary += f"; skipped {path}{more} ({why})"
    click.echo(f"logbot: {summary}", err=True)
    if report.events + stats.lines == 0:
        sys.exit(1)


def _import_zone(zone: str | None) -> Any:
    if zone is None:
        return None
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        _fail(click.BadParameter(f"unknown time zone {zone!r} (e.g. Europe/Berlin, UTC)"))


def _machine_zone() -> Any:
    from datetime import datetime

    from logbot.timeparse import system_zone

    return system_zone() or datetime.now().astimezone().tzinfo


def _say_indexing() -> None:
    # the bar has stopped moving: say why the import is not over yet
    click.echo("\nlogbot: building the indexes", err=True)


def _import_stdin(db: str | None, tz: Any) -> None:
    """JSON lines from standard input (``logbot export | logbot import``)."""
    import stat

    from logbot import archive

    stream = sys.stdin.buffer
    try:
        try:
            info = os.fstat(stream.fileno())
            size = info.st_size if stat.S_ISREG(info.st_mode) else None
        except (OSError, ValueError, AttributeError):
            # not a real file (a test harness's stdin): no size to show progress against
            size = None
        lines = archive.read_binary(stream)
        if not sys.stderr.isatty():
            stats = archive.import_lines(db, lines, source="<stdin>", tz=tz)
        elif size is not None:
            with click.progressbar(length=size, label="importing", file=sys.stderr) as bar:
                stats = archive.import_lines(
                    db,
                    lines,
                    source="<stdin>",
                    tz=tz,
                    progress=bar.update,
                    indexing=_say_indexing,
                )
        else:
            with click.progressbar(lines, label="importing", file=sys.stderr) as counted:
                stats = archive.import_lines(
                    db, counted, source="<stdin>", tz=tz, indexing=_say_indexing
                )
    except archive.ArchiveError as exc:
        _fail(exc)
        return
    parts = [f"imported {stats.inserted} events"]
    if stats.duplicates:
        parts.append(f"{stats.duplicates} already present")
    if stats.rejected:
        parts.append(f"{stats.rejected} refused by the database")
    click.echo(f"logbot: {', '.join(parts)} ({stats.lines} lines read)", err=True)
    if stats.lines == 0:
        sys.exit(1)


@main.command()
@_db_option
@click.option("--network", multiple=True, metavar="NET", help="Only this network (repeatable).")
@click.option("--channel", multiple=True, metavar="C", help="Only this channel (repeatable).")
@click.option("--since", metavar="WHEN", help="Gaps that end after this time (as in search).")
@click.option("--until", metavar="WHEN", help="Gaps that start before this time.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per gap, local time; json: one object per line, UTC.",
)
def gaps(
    db: str | None,
    network: tuple[str, ...],
    channel: tuple[str, ...],
    since: str | None,
    until: str | None,
    fmt: str,
) -> None:
    """List the intervals in which a channel was not logged, oldest first.

    Disconnected, kicked, parted, the bot stopped or not running; what the server's
    history filled is no longer a gap. Exit 0 when there are gaps, 1 when none.
    """
    import json
    from datetime import UTC, datetime

    from logbot.storage import gaps as gap_store
    from logbot.storage.engine import StorageError
    from logbot.timeparse import TimeParseError, parse_when

    now = datetime.now(UTC)
    try:
        low = parse_when(since, now) if since is not None else None
        high = parse_when(until, now) if until is not None else None
        if low is not None and high is not None and low >= high:
            raise UsageFailure(f"--since ({since}) is not before --until ({until})")
        found = gap_store.read_gaps(db, networks=network, channels=channel, since=low, until=high)
    except (TimeParseError, StorageError) as exc:
        _fail(exc)
        return
    if fmt == "json":
        lines = [json.dumps(g.as_json(), ensure_ascii=False) for g in found]
    else:
        lines = [gap_store.describe(g, now) for g in found]
    _emit(lines, utf8=fmt == "json")
    if not found:
        sys.exit(1)


# --- forget and prune: deleting stored events ------------------------------------------


def _terminal() -> bool:
    """Someone is there to answer a question."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@main.command()
@_db_option
@_filter_options
@click.option("--query", metavar="Q", help="Only events matching this search query.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def forget(
    db: str | None,
    network: str | None,
    channel: tuple[str, ...],
    nick: tuple[str, ...],
    kind: tuple[str, ...],
    since: str | None,
    until: str | None,
    query: str | None,
    dry_run: bool,
    yes: bool,
) -> None:
    """Delete the stored events the filters select (full-text index included).

    logbot forget --nick alice --channel '#x' --since 2026-01-01

    The filters and --query mean what they mean to `logbot search`; at least one is
    required. Asks for confirmation on a terminal unless --yes. The text log is not
    rewritten (see the README).
    """
    from logbot import search as searching
    from logbot.query import parse
    from logbot.storage.engine import StorageError, display_target, make_engine, storage_errors
    from logbot.storage.forget import delete_ids, matching_ids

    if not (network or channel or nick or kind or since or until or query):
        raise UsageFailure(
            "forget needs at least one filter (--nick, --channel, --network, --kind, --since, "
            "--until or --query); it never deletes everything"
        )
    request = searching.SearchRequest(
        db=db, network=network, channels=channel, nicks=nick, kinds=kind, since=since, until=until
    )
    try:
        parsed = parse(query) if query is not None else None
        filters = searching.build_filters(request)
        ids = matching_ids(db, filters, parsed)
        engine = make_engine(db, create_dirs=False, must_exist=True)
    except (*searching.USER_ERRORS, StorageError) as exc:
        _fail(exc)
        return
    where = display_target(engine)
    count = len(ids)
    noun = "event" if count == 1 else "events"
    if dry_run or not ids:
        engine.dispose()
        verb = "would delete" if dry_run else "deleted"
        click.echo(
            f"logbot: {verb} {count} {noun} from {where}" + (" (dry run)" if dry_run else "")
        )
        return
    if not yes:
        if not _terminal():
            engine.dispose()
            raise UsageFailure(
                f"forget would delete {count} {noun}: confirm with --yes (no terminal to ask on)"
            )
        if not click.confirm(f"Delete {count} {noun} from {where}?", default=False):
            engine.dispose()
            click.echo("logbot: nothing deleted")
            return
    try:
        with storage_errors(engine):
            deleted = delete_ids(engine, ids)
    except StorageError as exc:
        _fail(exc)
        return
    finally:
        engine.dispose()
    click.echo(f"logbot: deleted {deleted} {'event' if deleted == 1 else 'events'} from {where}")
    click.echo("logbot: the text log is not rewritten (README: Consent and retention)", err=True)


@main.command()
@_db_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE.toml",
    help="The config file that sets retention_days [default: logbot's --config].",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
def prune(run_options: _RunOptions, db: str | None, config_file: str | None, dry_run: bool) -> None:
    """Delete events older than retention_days, as the running bot does every hour.

    Reads retention_days from the config file; prunes --db, or every database the file
    names. "Older than N days": before local midnight at the start of the day N-1 days
    before today.
    """
    from datetime import UTC, datetime

    from logbot.config import ConfigError, build_settings
    from logbot.retention import local_zone, prune_database, retention_configured, sql_targets
    from logbot.storage.engine import StorageError

    config_file = config_file or run_options.config_file
    if config_file is None:
        raise UsageFailure("prune needs the config file that sets retention_days (--config FILE)")
    try:
        settings = build_settings(run_options.given, config_file, os.environ, run_options.from_env)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
    if not retention_configured(settings):
        click.echo(f"logbot: {config_file} sets no retention_days: nothing to prune")
        return
    now = datetime.now(UTC)
    tz = local_zone()
    targets = [db] if db is not None else sql_targets(settings)
    total = 0
    for target in targets:
        try:
            result = prune_database(target, settings, now, tz, dry_run=dry_run)
        except StorageError as exc:
            _fail(exc)
            return
        for (net, chan), count in sorted(result.per_channel.items()):
            click.echo(f"{net} {chan}: {count}")
        total += result.total
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"logbot: {verb} {total} {'event' if total == 1 else 'events'} older than their "
        "channel's retention_days" + (" (dry run)" if dry_run else "")
    )


@main.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@_db_option
def db_upgrade(db: str | None) -> None:
    """Create the database, or bring it to the newest schema (the bot also does this on start).

    Exit 0 when the database is at the newest schema, 2 with a one-line message when it
    cannot be opened or was written by a newer logbot.
    """
    from logbot.storage import migrate
    from logbot.storage.engine import StorageError, display_target, make_engine

    try:
        engine = make_engine(db)
        try:
            before = migrate.current_revision(engine)
            migrate.upgrade(engine)
            after = migrate.current_revision(engine)
        finally:
            engine.dispose()
    except StorageError as exc:
        _fail(exc)
        return
    where = display_target(engine)
    if before == after:
        click.echo(f"logbot: {where} is already at schema {after}")
    elif before is None:
        click.echo(f"logbot: created {where} at schema {after}")
    else:
        click.echo(f"logbot: upgraded {where} from schema {before} to {after}")


def _publish_settings(run_options: _RunOptions, config_file: str | None) -> Settings | None:
    """The settings whose ``publish`` keys the archive follows; None without a config."""
    from logbot.config import ConfigError, build_settings

    config_file = config_file or run_options.config_file
    if config_file is None:
        return None
    try:
        return build_settings(run_options.given, config_file, os.environ, run_options.from_env)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


def _site_options(f: Any) -> Any:
    """--title, --index/--noindex, --index-channel and --config: what web and html share."""
    from logbot.setting_keys import DEFAULT_WEB_TITLE

    for option in reversed(
        [
            click.option(
                "--title", default=DEFAULT_WEB_TITLE, show_default=True, help="The site's name."
            ),
            click.option(
                "--index/--noindex",
                default=False,
                help="Let search engines index the pages [default: noindex].",
            ),
            click.option(
                "--index-channel",
                "index_channels",
                multiple=True,
                metavar="C",
                help="Let search engines index this channel's pages (repeatable).",
            ),
            click.option(
                "--config",
                "config_file",
                type=click.Path(dir_okay=False),
                metavar="FILE.toml",
                help="Read which channels are public, unlisted or private (publish) from this "
                "config [default: logbot's --config; none: every channel is public].",
            ),
        ]
    ):
        f = option(f)
    return f


@main.command()
@_db_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@click.option(
    "--channel", "channels", multiple=True, metavar="C", help="Show only this channel (repeatable)."
)
@_site_options
@click.pass_obj
def web(
    run_options: _RunOptions,
    db: str | None,
    listen: str,
    channels: tuple[str, ...],
    title: str,
    index: bool,
    index_channels: tuple[str, ...],
    config_file: str | None,
) -> None:
    """Serve the archive to web browsers (day pages, calendars, search)."""
    from logbot.service import StartupError, serve_web
    from logbot.setting_keys import parse_listen
    from logbot.storage.engine import StorageError, default_db_path
    from logbot.web.site import Archive

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise UsageFailure(f"--listen {exc}") from None
    settings = _publish_settings(run_options, config_file)
    try:
        archive = Archive(
            db,
            channels=channels,
            title=title,
            noindex=not index,
            index_channels=index_channels,
            settings=settings,
        )
    except (ValueError, StorageError) as exc:
        _fail(exc)
        return
    click.echo(f"logbot: serving {db or default_db_path()} on http://{listen}/", err=True)
    try:
        serve_web(archive, host, port)
    except (OSError, StartupError) as exc:
        _fail(exc)


@main.command()
@_db_option
@click.option("--out", required=True, metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--channel", "channels", multiple=True, metavar="C", help="Only this channel (repeatable)."
)
@_site_options
@click.option(
    "--jobs",
    type=click.IntRange(0),
    default=0,
    help="Processes writing pages [default: 0, one per CPU].",
)
@click.pass_obj
def html(
    run_options: _RunOptions,
    db: str | None,
    out: str,
    channels: tuple[str, ...],
    title: str,
    index: bool,
    index_channels: tuple[str, ...],
    jobs: int,
    config_file: str | None,
) -> None:
    """Write the archive as static HTML pages (a rerun rewrites only the days that changed)."""
    from pathlib import Path

    from logbot.storage.browse import DatabaseGone
    from logbot.storage.engine import StorageError
    from logbot.web.export import write_site

    settings = _publish_settings(run_options, config_file)
    try:
        done = write_site(
            db,
            Path(out),
            channels=channels,
            title=title,
            noindex=not index,
            index_channels=index_channels,
            jobs=jobs or os.cpu_count() or 1,
            settings=settings,
        )
    except (StorageError, DatabaseGone, OSError) as exc:
        _fail(exc)
        return
    click.echo(
        f"logbot: {out}: {done.channels} channels, {done.days_written} days written, "
        f"{done.days_kept} unchanged",
        err=True,
    )
