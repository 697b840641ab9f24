"""The `logbot` command: parse, call, print. Nothing else lives here.

This module is the group and its run options; each subcommand lives in a module of this
package, imported only when it is used (``logbot search`` loads the search commands, not
the web or import ones). Heavy imports (Twisted, SQLAlchemy) happen inside the commands
that need them, so that ``logbot search`` starts fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from logbot import __version__
from logbot.cli.common import RunOptions, UsageFailure, env

if TYPE_CHECKING:
    from logbot.setting_keys import Key

#: each subcommand: the module of this package that defines it, and its name there
_COMMANDS = {
    "config": ("config", "config"),
    "db": ("maintenance", "db_group"),
    "export": ("search", "export"),
    "forget": ("maintenance", "forget"),
    "gaps": ("maintenance", "gaps"),
    "html": ("site", "html"),
    "import": ("importing", "import_"),
    "prune": ("maintenance", "prune"),
    "search": ("search", "search"),
    "web": ("site", "web"),
}


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


class _Root(click.Group):
    """The ``logbot`` group. Its run options (~40, built from logbot.setting_keys) are made
    only when they can apply: a run, ``--help``, ``config``. ``logbot search`` and the other
    commands that ignore them never pay for building them (start-up time), nor for
    importing the modules of the commands not run."""

    _run_options_added = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not (args and args[0] in _COMMANDS and args[0] != "config"):
            self.add_run_options()
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, name = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"logbot.cli.{module}"), name)
        return command

    def add_run_options(self) -> None:
        """Make the run options (once): ``logbot`` parses them before any subcommand."""
        if self._run_options_added:
            return
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
    envvar=env("config"),
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
    ctx.obj = RunOptions(ctx, options)
    ctx.obj.config_file = config_file
    if ctx.invoked_subcommand is not None:
        return
    from logbot.lean import bot_imports

    # Twisted, asyncio and hashlib are first imported here: without the standard library's
    # OpenSSL modules and Twisted's http.cookiejar, which the bot never uses (logbot.lean);
    # the certificate checks of build_settings import ssl afterwards if they need it
    with bot_imports():
        import hashlib  # noqa: F401  (builtin hashes, for SQLAlchemy's import later)

        from logbot.config import ConfigError, build_settings
        from logbot.service import StartupError, run

    try:
        settings = build_settings(ctx.obj.given, config_file, os.environ, from_env=ctx.obj.from_env)
    except ConfigError as exc:
        raise click.UsageError(str(exc), ctx) from None

    try:
        status = run(settings)
    except StartupError as exc:
        raise UsageFailure(str(exc)) from None
    sys.exit(status)
