"""``logbot import``: events from JSON lines or other programs' logs into a database."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from logbot.cli.common import UsageFailure, db_option, fail
from logbot.importers import FORMATS


@click.command("import")
@db_option
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
            raise UsageFailure(f"standard input is read as JSON lines, not {fmt}")
        _import_stdin(db, tz)
        return
    if "-" in paths:
        raise UsageFailure("- (standard input) cannot be mixed with files")
    from logbot.importers.sources import Report, SourceError, batches, plan

    try:
        found = plan(list(paths), fmt, network=network, channel=channel)
    except SourceError as exc:
        fail(exc)
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
        fail(exc)
        return
    except OSError as exc:
        raise UsageFailure(f"cannot read {exc.filename}: {exc.strerror}") from None
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
        raise UsageFailure(f"unknown time zone {zone!r} (e.g. Europe/Berlin, UTC)") from None


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

    # click's own reading of "-" (what click.File does): standard input's bytes
    stream = click.open_file("-", "rb")
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
        fail(exc)
        return
    parts = [f"imported {stats.inserted} events"]
    if stats.duplicates:
        parts.append(f"{stats.duplicates} already present")
    if stats.rejected:
        parts.append(f"{stats.rejected} refused by the database")
    click.echo(f"logbot: {', '.join(parts)} ({stats.lines} lines read)", err=True)
    if stats.lines == 0:
        sys.exit(1)
