"""``logbot config check``: what a run with a config file would do, or why it would not."""

from __future__ import annotations

import click

from logbot.cli.common import RunOptions


@click.group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False))
@click.pass_obj
def config_check(run_options: RunOptions, file: str) -> None:
    """Validate FILE and print what would run (secrets masked); exit 2 if it is wrong.

    Secrets named by *_env keys and ${VAR} in paths are looked up in this environment
    (e.g. CREDENTIALS_DIRECTORY=/etc/logbot logbot config check /etc/logbot/logbot.toml),
    and LOGBOT_* variables (and run flags before `config`) apply as they would to a run.
    """
    from logbot.config_check import describe

    click.echo(describe(run_options.settings(file)))
