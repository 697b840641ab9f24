"""What the ``logbot`` subcommands share: the exit-2 error, the run options the group
parsed, fast printing, and the --db and filter options.

Only the standard library, click and logbot's light modules are imported here: every
subcommand, ``logbot search`` first, loads this module on its way to start
(tests/test_cli_search.py checks what a search imports).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from logbot.setting_keys import ENV_PREFIX

if TYPE_CHECKING:
    from logbot.settings import Settings


class UsageFailure(click.ClickException):
    """A wrong command, option, file or setting: ``Error: MESSAGE`` on stderr, exit 2."""

    exit_code = 2


def env(name: str) -> str:
    """``LOGBOT_NAME``: the environment variable an option also reads."""
    return ENV_PREFIX + name.upper()


def fail(exc: BaseException) -> None:
    """Raise ``exc`` as a one-line usage failure (exit 2, no traceback).

    Always raises; typed None (not NoReturn) so callers' `return` after it stay valid."""
    raise UsageFailure(str(exc)) from None


class RunOptions:
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

    def settings(self, config_file: str) -> Settings:
        """The settings a run with ``config_file`` would have here (these options and this
        environment applied); a wrong setting is a usage failure."""
        from logbot.config import ConfigError, build_settings

        try:
            return build_settings(self.given, config_file, os.environ, from_env=self.from_env)
        except ConfigError as exc:
            raise UsageFailure(str(exc)) from None


def emit(lines: Any, *, utf8: bool) -> None:
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


def db_option(f: Any) -> Any:
    return click.option(
        "--db",
        envvar=env("db"),
        metavar="PATH_OR_URL",
        help="SQLite file or SQLAlchemy URL [default: SQLite in the user data dir].",
    )(f)


def filter_options(f: Any) -> Any:
    """--network, --channel, --nick, --kind, --since, --until: what search, export and
    forget select events by."""
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
