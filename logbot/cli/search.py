"""``logbot search`` and ``logbot export``: reading stored events.

Only the standard library, click and logbot's own search modules are imported on the way
to a SQLite search (tests/test_cli_search.py checks it): the rest comes inside the commands.
"""

from __future__ import annotations

import os
import sys

import click

from logbot.cli.common import db_option, emit, fail, filter_options


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, metavar="[QUERY]")
@db_option
@filter_options
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
        fail(exc)
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
        emit(lines, utf8=fmt != "text")
    sys.exit(0 if outcome.found else 1)


@click.command()
@db_option
@filter_options
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
                emit(lines, utf8=True)
            else:
                emit(archive.export_lines(reader, filters), utf8=True)
    except (*searching.USER_ERRORS, archive.ArchiveError) as exc:
        fail(exc)
