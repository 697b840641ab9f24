"""The `logbot` command: parse, call, print. Nothing else lives here.

Heavy imports (Twisted, SQLAlchemy) happen inside the commands that need them, so that
``logbot search`` starts fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from click.core import ParameterSource

from logbot import __version__
from logbot.importers import FORMATS

# Options of the root command that describe a run; each also reads LOGBOT_<OPTION>.
RUN_OPTIONS = (
    "server",
    "port",
    "tls",
    "tls_verify",
    "nick",
    "channel",
    "file",
    "db",
    "network",
    "ping_interval",
    "ping_timeout",
    "fallback_encoding",
    "log_level",
)


def _env(name: str) -> str:
    return "LOGBOT_" + name.upper()


@click.group(
    name="logbot",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="logbot")
@click.option("--server", envvar=_env("server"), metavar="HOST", help="IRC server host name.")
@click.option(
    "--port",
    envvar=_env("port"),
    type=click.IntRange(1, 65535),
    help="Server port [default: 6667, or 6697 with --tls].",
)
@click.option("--tls/--no-tls", envvar=_env("tls"), default=False, help="Connect with TLS.")
@click.option(
    "--tls-verify/--no-tls-verify",
    envvar=_env("tls_verify"),
    default=True,
    help="Verify the server's certificate and host name [default: verify].",
)
@click.option("--nick", envvar=_env("nick"), default="logbot", show_default=True)
@click.option(
    "--channel",
    "channel",
    envvar=_env("channel"),
    multiple=True,
    metavar="CHAN",
    help="Channel to log; repeat for several. 'CHAN KEY' for a keyed channel.",
)
@click.option("--file", envvar=_env("file"), metavar="PATH", help="Write the text log here.")
@click.option(
    "--db",
    envvar=_env("db"),
    metavar="PATH_OR_URL",
    help="SQLite file or SQLAlchemy URL [default: SQLite in the user data dir].",
)
@click.option(
    "--network",
    envvar=_env("network"),
    metavar="NAME",
    help="Network name in stored records [default: the server's NETWORK=, else the host].",
)
@click.option(
    "--config",
    "config_file",
    envvar=_env("config"),
    type=click.Path(dir_okay=False),
    metavar="FILE.toml",
    help="TOML config file (several networks, secrets from files).",
)
@click.option(
    "--ping-interval",
    envvar=_env("ping_interval"),
    type=click.FloatRange(min=1.0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
)
@click.option(
    "--ping-timeout",
    envvar=_env("ping_timeout"),
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
)
@click.option(
    "--fallback-encoding",
    envvar=_env("fallback_encoding"),
    default="latin-1",
    show_default=True,
    metavar="ENC",
    help="Decoding for lines that are not valid UTF-8.",
)
@click.option(
    "--log-level",
    envvar=_env("log_level"),
    type=click.Choice(["debug", "info", "warn", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.pass_context
def main(ctx: click.Context, /, config_file: str | None, **options: Any) -> None:
    """Log IRC channels; find any line again with `logbot search`.

    With no subcommand, runs the bot:

        logbot --server irc.libera.chat --channel '#x' --file log.txt
    """
    if ctx.invoked_subcommand is not None:
        return
    given = {
        name: value
        for name, value in options.items()
        if ctx.get_parameter_source(name)
        not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)
    }
    from logbot.config import ConfigError, build_settings

    try:
        settings = build_settings(given, config_file, os.environ)
    except ConfigError as exc:
        raise click.UsageError(str(exc), ctx) from None

    from logbot.service import StartupError, run

    try:
        status = run(settings)
    except StartupError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.status)
    sys.exit(status)


@main.group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False))
def config_check(file: str) -> None:
    """Validate FILE and print what would run (secrets masked); exit 2 if it is wrong.

    Secrets named by *_env keys and ${VAR} in paths are looked up in this environment
    (e.g. CREDENTIALS_DIRECTORY=/etc/logbot logbot config check /etc/logbot/logbot.toml).
    """
    from logbot.config import ConfigError, build_settings, describe

    try:
        settings = build_settings({}, file, os.environ)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    click.echo(describe(settings))


# --- search, export, import: only the standard library, click and logbot's own search
# modules are imported on the way to a SQLite search (tests/test_cli_search.py checks it).


def _fail(exc: BaseException) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(2)


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
def export(
    db: str | None,
    network: str | None,
    channel: tuple[str, ...],
    nick: tuple[str, ...],
    kind: tuple[str, ...],
    since: str | None,
    until: str | None,
) -> None:
    """Write stored events as JSON lines, oldest first (the `search --format json` lines).

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
