"""The root command: usage errors are one short message and exit 2; help works everywhere."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from logbot import __version__
from logbot.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            found += _commands(cmd, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    """Every command and subcommand answers --help with exit 0 and a usage line."""
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: logbot")


def test_version_prints_the_package_version() -> None:
    """`logbot --version` prints the version and exits 0."""
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"logbot, version {__version__}\n"


def test_running_without_server_is_a_usage_error() -> None:
    """No --server and no config file: exit 2 with click's short usage message, no traceback."""
    result = CliRunner().invoke(main, ["--channel", "#x"], env={"LOGBOT_SERVER": None})
    assert result.exit_code == 2
    assert "Error:" in result.output
    assert "server" in result.output
    assert "Traceback" not in result.output


def test_running_without_channel_is_a_usage_error() -> None:
    """A server but no channel is a usage error naming the channel option."""
    result = CliRunner().invoke(main, ["--server", "127.0.0.1"], env={"LOGBOT_CHANNEL": None})
    assert result.exit_code == 2
    assert "channel" in result.output
    assert "Traceback" not in result.output


def test_bad_port_is_a_usage_error() -> None:
    """A port outside 1..65535 is rejected by the parser with exit 2."""
    result = CliRunner().invoke(main, ["--server", "h", "--channel", "#x", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.output


def test_environment_variables_set_options() -> None:
    """LOGBOT_<OPTION> is read for the run options (here a bad value proves it was read)."""
    result = CliRunner().invoke(main, [], env={"LOGBOT_SERVER": "h", "LOGBOT_PORT": "0"})
    assert result.exit_code == 2
    assert "LOGBOT_PORT" in result.output or "--port" in result.output


def test_root_help_lists_every_run_option_between_version_and_config() -> None:
    """The run options, built only when they can apply, still show in `logbot --help`
    in the key table's order, after --version and before --config."""
    from logbot.setting_keys import KEYS

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    where = [result.output.index(f"  {key.option}") for key in KEYS if key.flag is not None]
    assert where == sorted(where)
    assert result.output.index("--version") < where[0]
    assert where[-1] < result.output.index("--config FILE.toml")
