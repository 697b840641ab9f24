"""``logbot web`` and ``logbot html``: the archive as web pages, served or written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from logbot.cli.common import RunOptions, UsageFailure, db_option, fail

if TYPE_CHECKING:
    from logbot.settings import Settings


def _publish_settings(run_options: RunOptions, config_file: str | None) -> Settings | None:
    """The settings whose ``publish`` keys the archive follows; None without a config."""
    config_file = config_file or run_options.config_file
    return None if config_file is None else run_options.settings(config_file)


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


@click.command()
@db_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@click.option(
    "--channel", "channels", multiple=True, metavar="C", help="Show only this channel (repeatable)."
)
@_site_options
@click.pass_obj
def web(
    run_options: RunOptions,
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
        fail(exc)
        return
    click.echo(f"logbot: serving {db or default_db_path()} on http://{listen}/", err=True)
    try:
        serve_web(archive, host, port)
    except (OSError, StartupError) as exc:
        fail(exc)


@click.command()
@db_option
@click.option("--out", required=True, metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--channel", "channels", multiple=True, metavar="C", help="Only this channel (repeatable)."
)
@_site_options
@click.option(
    "--jobs",
    type=click.IntRange(0),
    default=0,
    help="Processes writing pages [default: 0, one per CPU this process may use; "
    "1: no worker processes].",
)
@click.pass_obj
def html(
    run_options: RunOptions,
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
    from logbot.web.export import default_jobs, write_site

    settings = _publish_settings(run_options, config_file)
    try:
        done = write_site(
            db,
            Path(out),
            channels=channels,
            title=title,
            noindex=not index,
            index_channels=index_channels,
            jobs=jobs or default_jobs(),
            settings=settings,
        )
    except (StorageError, DatabaseGone, OSError) as exc:
        fail(exc)
        return
    click.echo(
        f"logbot: {out}: {done.channels} channels, {done.days_written} days written, "
        f"{done.days_kept} unchanged",
        err=True,
    )
