"""One process, two networks: a config file with two ngircd instances and two channels each.

Both networks have a channel called #one, so a record can be told apart only by its
network name. Each network writes its own text file; both share one SQLite database,
read back with ``logbot search --format json``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    HOST,
    IRCClient,
    LogBot,
    Ngircd,
    log_line,
    logbot_env,
    read_lines,
    wait_for,
    wait_for_line,
)

BOT_START = 30.0
#: network name -> the channels the bot logs there
CHANNELS = {"alpha": ("#one", "#two"), "beta": ("#one", "#three")}
#: network name -> the nick of the test's client there
SPEAKER = {"alpha": "alice", "beta": "bob"}
SEARCH_ALL = ("--kind", "message", "--format", "json", "--limit", "0")


@dataclass
class Run:
    bot: LogBot
    db: Path
    files: dict[str, Path]
    #: network name -> the test's client, in every channel the bot logs there
    clients: dict[str, IRCClient]
    workdir: Path


def write_config(path: Path, servers: dict[str, Ngircd], db: Path, files: dict[str, Path]) -> None:
    text = f'db = "{db}"\nnick = "logbot"\n'
    for name, server in servers.items():
        channels = ", ".join(f'"{c}"' for c in CHANNELS[name])
        text += (
            f'\n[[network]]\nname = "{name}"\nserver = "{HOST}"\nport = {server.port}\n'
            f'channels = [{channels}]\nfile = "{files[name]}"\n'
        )
    path.write_text(text)


@pytest.fixture
def run(
    make_ngircd: Callable[..., Ngircd],
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> Run:
    """The bot running a two-network config, joined to all four channels."""
    servers = {name: make_ngircd() for name in CHANNELS}
    clients = {}
    for name, server in servers.items():
        client = irc_client(SPEAKER[name], server=server)
        for channel in CHANNELS[name]:
            client.join(channel)
        clients[name] = client
    db = tmp_path / "logbot.sqlite"
    files = {name: tmp_path / f"{name}.log" for name in CHANNELS}
    config = tmp_path / "logbot.toml"
    write_config(config, servers, db, files)
    bot = logbot_run("--config", str(config))
    for name, client in clients.items():
        for channel in CHANNELS[name]:
            client.expect("JOIN", nick="logbot", target=channel, timeout=BOT_START)
    return Run(bot, db, files, clients, tmp_path)


def stored(run: Run) -> list[dict[str, Any]]:
    """Every message in the database, as ``logbot search --format json`` prints it."""
    result = subprocess.run(
        [sys.executable, "-m", "logbot", "search", "--db", str(run.db), *SEARCH_ALL],
        capture_output=True,
        text=True,
        env=logbot_env(run.workdir),
        timeout=30,
    )
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def wait_stored(run: Run, expected: set[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """Poll the database until every (network, channel, nick, text) in ``expected`` is there."""

    def found() -> list[dict[str, Any]] | None:
        rows = stored(run)
        have = {(r["network"], r["channel"], r["nick"], r["text"]) for r in rows}
        return rows if expected <= have else None

    return wait_for(found, 15, f"{len(expected)} messages in {run.db}", interval=0.2)


def say_everywhere(run: Run, text: str) -> set[tuple[str, str, str, str]]:
    said = set()
    for name, client in run.clients.items():
        for channel in CHANNELS[name]:
            client.privmsg(channel, f"{text} in {name} {channel}")
            said.add((name, channel, client.nick, f"{text} in {name} {channel}"))
    return said


def test_two_networks_with_two_channels_each_are_logged_under_their_own_names(run: Run) -> None:
    """Each line is stored with its network's name and channel, and lands in its network's file."""
    said = say_everywhere(run, "hello")
    rows = wait_stored(run, said)
    assert {(r["network"], r["channel"], r["nick"], r["text"]) for r in rows} == said
    for name, path in run.files.items():
        nick = SPEAKER[name]
        for channel in CHANNELS[name]:
            # several channels in one file: the channel follows the time
            wait_for_line(path, log_line(f"<{nick}> hello in {name} {channel}", channel))
        other = next(n for n in CHANNELS if n != name)
        assert f"in {other} " not in "\n".join(read_lines(path))
    alpha_only = [r for r in rows if r["network"] == "alpha" and r["channel"] == "#one"]
    assert [r["text"] for r in alpha_only] == ["hello in alpha #one"]
    stderr = run.bot.stderr()
    for name in CHANNELS:
        for channel in CHANNELS[name]:
            assert f"{name}: joined {channel}" in stderr


def test_sigterm_with_two_networks_quits_both_exits_0_and_keeps_every_line(run: Run) -> None:
    """SIGTERM right after a burst on both networks: QUIT on each, exit 0, nothing lost."""
    burst = 100
    said = set()
    for n in range(burst):
        said |= say_everywhere(run, f"burst {n}")
    for client in run.clients.values():
        client.privmsg("#one", "logbot: got all that?")
    # the answers prove the bot has read every line before them, on both networks
    for client in run.clients.values():
        client.expect("PRIVMSG", nick="logbot", text=f"{client.nick}: I am a log bot", timeout=15)
    run.bot.send_signal(signal.SIGTERM)
    for client in run.clients.values():
        quit_ = client.expect("QUIT", nick="logbot", timeout=10)
        assert quit_.text
    assert run.bot.wait_exit() == 0
    have = {(r["network"], r["channel"], r["nick"], r["text"]) for r in stored(run)}
    assert said <= have, sorted(said - have)[:5]
    for name, path in run.files.items():
        lines = read_lines(path)
        text = "\n".join(lines)
        for n in range(burst):
            for channel in CHANNELS[name]:
                assert f"{channel} <{SPEAKER[name]}> burst {n} in {name} {channel}" in text
        assert "[disconnected at" in lines[-1]
    assert "sending QUIT to 2 network(s)" in run.bot.stderr()


def test_sighup_reopens_the_file_of_every_network(run: Run) -> None:
    """After logrotate renames both files, SIGHUP: each network writes a fresh file."""
    said = say_everywhere(run, "before rotation")
    for name in CHANNELS:
        pattern = log_line(f"<{SPEAKER[name]}> before rotation in {name} #one", "#one")
        wait_for_line(run.files[name], pattern)
    rotated = {}
    for name, path in run.files.items():
        rotated[name] = path.with_name(path.name + ".1")
        path.rename(rotated[name])
    run.bot.send_signal(signal.SIGHUP)
    for path in run.files.values():
        wait_for(path.exists, 10, f"the bot to reopen {path}")
    said = say_everywhere(run, "after rotation")
    for name, path in run.files.items():
        for channel in CHANNELS[name]:
            wait_for_line(
                path, log_line(f"<{SPEAKER[name]}> after rotation in {name} {channel}", channel)
            )
        old = "\n".join(read_lines(rotated[name]))
        new = "\n".join(read_lines(path))
        assert "before rotation" in old
        assert "after rotation" not in old
        assert "before rotation" not in new
    wait_stored(run, said)
    assert run.bot.running
