"""``logbot gaps``, ``forget``, ``prune`` and ``db upgrade``: what is stored, deleted and
how the schema is kept."""

from __future__ import annotations

import sys

import click

from logbot.cli.common import RunOptions, UsageFailure, db_option, emit, fail, filter_options


@click.command()
@db_option
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
        fail(exc)
        return
    if fmt == "json":
        lines = [json.dumps(g.as_json(), ensure_ascii=False) for g in found]
    else:
        lines = [gap_store.describe(g, now) for g in found]
    emit(lines, utf8=fmt == "json")
    if not found:
        sys.exit(1)


# --- forget and prune: deleting stored events ------------------------------------------


def _terminal() -> bool:
    """Someone is there to answer a question."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@click.command()
@db_option
@filter_options
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
        fail(exc)
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
        fail(exc)
        return
    finally:
        engine.dispose()
    click.echo(f"logbot: deleted {deleted} {'event' if deleted == 1 else 'events'} from {where}")
    click.echo("logbot: the text log is not rewritten (README: Consent and retention)", err=True)


@click.command()
@db_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE.toml",
    help="The config file that sets retention_days [default: logbot's --config].",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
def prune(run_options: RunOptions, db: str | None, config_file: str | None, dry_run: bool) -> None:
    """Delete events older than retention_days, as the running bot does every hour.

    Reads retention_days from the config file; prunes --db, or every database the file
    names. "Older than N days": before local midnight at the start of the day N-1 days
    before today.
    """
    from datetime import UTC, datetime

    from logbot.retention import local_zone, prune_database, retention_configured, sql_targets
    from logbot.storage.engine import StorageError

    config_file = config_file or run_options.config_file
    if config_file is None:
        raise UsageFailure("prune needs the config file that sets retention_days (--config FILE)")
    settings = run_options.settings(config_file)
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
            fail(exc)
            return
        for (net, chan), count in sorted(result.per_channel.items()):
            click.echo(f"{net} {chan}: {count}")
        total += result.total
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"logbot: {verb} {total} {'event' if total == 1 else 'events'} older than their "
        "channel's retention_days" + (" (dry run)" if dry_run else "")
    )


@click.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@db_option
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
        fail(exc)
        return
    where = display_target(engine)
    if before == after:
        click.echo(f"logbot: {where} is already at schema {after}")
    elif before is None:
        click.echo(f"logbot: created {where} at schema {after}")
    else:
        click.echo(f"logbot: upgraded {where} from schema {before} to {after}")
