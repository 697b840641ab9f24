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
