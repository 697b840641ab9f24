"""contrib/ (systemd unit, logrotate snippet, example config) and `logbot config check`.

The systemd and logrotate checks run their real tools. Where a tool is missing they skip,
except when ``CI=true``: CI installs them (apt: systemd, logrotate), and a silent skip
there would hide a broken unit file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from logbot.cli import main
from logbot.config import CONFIG_KEYS
from logbot.setting_keys import WEB_KEYS
from tests.test_config import SASL_SECRET, SECRET, make_cert, write

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
UNIT = CONTRIB / "systemd" / "logbot.service"
LOGROTATE = CONTRIB / "logrotate" / "logbot"
EXAMPLE = CONTRIB / "logbot.toml"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed in CI (apt-get install its package)")
        pytest.skip(f"{name} is not installed")
    return found


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _installed_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this environment's logbot, for tools that check it.

    ``systemd-analyze verify`` fails when the ExecStart binary does not exist; the
    documented /usr/local/bin/logbot is not where a test environment installs it.
    """
    script = Path(sys.executable).parent / "logbot"
    binary = str(script) if script.exists() else sys.executable
    text = UNIT.read_text()
    assert "\nExecStart=/usr/local/bin/logbot " in text
    copy = tmp_path / "logbot.service"
    copy.write_text(text.replace("\nExecStart=/usr/local/bin/logbot ", f"\nExecStart={binary} "))
    return copy


# --- systemd ------------------------------------------------------------------------------


def test_systemd_unit_runs_logbot_hardened_with_reload_and_restart() -> None:
    """The unit has the documented command, SIGHUP reload, a restart policy and the hardening."""
    unit = _unit_settings()
    assert unit["ExecStart"] == ["/usr/local/bin/logbot --config /etc/logbot/logbot.toml"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Type"] == ["notify"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["RestartSec"] == ["10s"]
    assert unit["RestartPreventExitStatus"] == ["2"]
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "logbot",
        "LogsDirectory": "logbot",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
    }.items():
        assert unit[key] == [value], key


def _seconds(value: str) -> float:
    """A systemd time span of the forms the unit uses: ``45s``, ``2min``, ``1min 30s``."""
    units = {"s": 1, "sec": 1, "min": 60, "m": 60}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


def test_systemd_waits_longer_than_the_bots_own_shutdown_deadline() -> None:
    """TimeoutStopSec exceeds QUIT's wait plus the database flush deadline (from the code)."""
    from logbot.service import stop_deadline_seconds

    (timeout,) = _unit_settings()["TimeoutStopSec"]
    assert _seconds(timeout) > stop_deadline_seconds()


def test_systemd_unit_waits_for_ready_and_watches_the_event_loop() -> None:
    """Type=notify (READY=1 from the bot itself), a watchdog the reactor beats, and a start
    timeout that leaves room for a long migration before READY."""
    unit = _unit_settings()
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    (watchdog,) = unit["WatchdogSec"]
    # the bot beats every WatchdogSec/2: a minute between beats tolerates a busy moment
    assert 30 <= _seconds(watchdog) <= 300
    (start,) = unit["TimeoutStartSec"]
    assert _seconds(start) >= 600


def test_systemd_unit_bounds_memory_and_tasks() -> None:
    """A runaway bot is stopped by MemoryMax= and TasksMax= rather than taking the host."""
    unit = _unit_settings()
    assert unit["MemoryMax"] == ["512M"]
    assert unit["TasksMax"] == ["64"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing wrong with contrib/systemd/logbot.service."""
    analyze = _tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", str(_installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_systemd_security_exposure_stays_low(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the unit's exposure at most 2.0 (of 10)."""
    analyze = _tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(_installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert level is not None, result.stdout + result.stderr
    assert result.returncode == 0, f"exposure {level.group(1)} > 2.0"


# --- logrotate ----------------------------------------------------------------------------


def test_logrotate_snippet_reloads_logbot_after_rotating() -> None:
    """The snippet rotates the unit's LogsDirectory and reloads logbot (SIGHUP) afterwards."""
    text = LOGROTATE.read_text()
    assert text.startswith("#")
    assert "/var/log/logbot/*.log {" in text
    postrotate = text.split("postrotate", 1)[1].split("endscript", 1)[0]
    assert "systemctl reload logbot.service" in postrotate


def test_logrotate_parses_the_snippet(tmp_path: Path) -> None:
    """`logrotate --debug` reads the snippet without an error."""
    logrotate = _tool("logrotate")
    result = subprocess.run(
        [logrotate, "--debug", "--state", str(tmp_path / "state"), str(LOGROTATE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "error:" not in output
    assert "rotating pattern: /var/log/logbot/*.log" in output


# --- the example config -------------------------------------------------------------------


@pytest.fixture
def example_env(tmp_path: Path) -> dict[str, str]:
    """The example installed in a directory, with the files and variables it refers to."""
    shutil.copy(EXAMPLE, tmp_path / "logbot.toml")
    make_cert(tmp_path / "privnet-ca.pem", key=False, mode=0o644)
    creds = tmp_path / "credentials"
    creds.mkdir()
    write(creds / "libera.pass", SASL_SECRET + "\n")
    make_cert(creds / "oftc.pem")
    return {"CREDENTIALS_DIRECTORY": str(creds), "PRIVNET_PASSWORD": SECRET}


def test_example_config_passes_config_check(tmp_path: Path, example_env: dict[str, str]) -> None:
    """`logbot config check` accepts contrib/logbot.toml and explains its three networks."""
    config = tmp_path / "logbot.toml"
    result = CliRunner().invoke(main, ["config", "check", str(config)], env=example_env)
    assert result.exit_code == 0, result.output
    assert "3 networks, log level info" in result.output
    for line in [
        "network libera",
        "  server: irc.libera.chat port 6697, TLS, certificate verified against the system "
        "CA store",
        "  channels: #logbot-general, #logbot-example, #logbot-private (key set)",
        '  #logbot-example: announce "This channel is logged: '
        'https://logs.example.org/", web archive public, keep events '
        'for 730 days, unlogged lines start with "[nolog]", "[off]", "!nolog", also opted out '
        '"quietperson"',
        '  opted-out nicks: "NoLogPlease"',
        "  web archive: private",
        "  sasl: PLAIN as logbot, required (never joins unauthenticated)",
        f"  sasl password: from file {tmp_path}/credentials/libera.pass",
        f"  client certificate: {tmp_path}/credentials/oftc.pem",
        f"  server: irc.example.net port 6697, TLS, certificate verified against "
        f"{tmp_path}/privnet-ca.pem",
        "  server password: from environment variable PRIVNET_PASSWORD",
        "  events to: text file /var/log/logbot/privnet.log, database SQLite "
        "/var/lib/logbot/logbot.sqlite",
    ]:
        assert line in result.output.splitlines()
    assert "warning" not in result.output
    assert SECRET not in result.output
    assert SASL_SECRET not in result.output
    assert "s3cretkey" not in result.output


def test_example_config_passes_the_installed_command(
    tmp_path: Path, example_env: dict[str, str]
) -> None:
    """The real `python -m logbot config check` process exits 0 on the example."""
    env = {**os.environ, **example_env}
    result = subprocess.run(
        [sys.executable, "-m", "logbot", "config", "check", str(tmp_path / "logbot.toml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"config file: {tmp_path}/logbot.toml\n")


def test_example_config_shows_every_key() -> None:
    """Every key logbot knows appears in the example (set, or as a commented alternative)."""
    text = EXAMPLE.read_text()
    shown = set(re.findall(r"^#? ?([a-z_]+) = ", text, flags=re.MULTILINE))
    tables = set(re.findall(r"^#? ?\[([a-z_]+)\]$", text, flags=re.MULTILINE))
    assert CONFIG_KEYS - shown - tables == set()
    assert set(WEB_KEYS) - shown == set()
    assert "[[network]]" in text
    assert 'network = "NAME"' in text


def test_example_config_comments_every_key_it_sets() -> None:
    """Each key the example sets has a comment on the same line or just above it."""
    lines = EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line) and "#" not in line:
            before = lines[i - 1]
            documented = before.startswith("#") or re.match(r"^[a-z_]+ = ", before)
            assert documented, f"line {i + 1} ({line}) has no comment"
    tomllib.loads(EXAMPLE.read_text())


# --- `logbot config check` ----------------------------------------------------------------


def test_config_check_reports_the_file_and_key_with_exit_2(tmp_path: Path) -> None:
    """An invalid file: exit 2 and `Error: FILE: key: what is wrong` on stderr, no traceback."""
    config = write(tmp_path / "logbot.toml", 'server = "h"\nchannels = ["#x"]\nport = 0\n')
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert result.output == f"Error: {config}: port: must be an integer from 1 to 65535, got 0\n"


def test_config_check_of_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    """A file that does not exist is named in a one-line error."""
    result = CliRunner().invoke(main, ["config", "check", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path}/nope.toml: cannot read: No such file or directory\n"


def test_config_check_never_prints_secrets(tmp_path: Path) -> None:
    """Secrets read from env and file stay masked in the check's output."""
    write(tmp_path / "p", SASL_SECRET)
    config = write(
        tmp_path / "logbot.toml",
        'server = "h"\nchannels = ["#x"]\npassword_env = "PW"\nsasl_password_file = "p"\n',
    )
    result = CliRunner().invoke(main, ["config", "check", str(config)], env={"PW": SECRET})
    assert result.exit_code == 0, result.output
    assert "server password: from environment variable PW" in result.output
    assert f"sasl password: from file {tmp_path}/p" in result.output
    assert SECRET not in result.output
    assert SASL_SECRET not in result.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LOGBOT_TLS_VERIFY": "false"}, "TLS, certificate NOT verified"),
        ({"LOGBOT_TLS": "false"}, "plain text (no TLS)"),
        ({"LOGBOT_NICK": "envnick"}, "nick: envnick"),
    ],
    ids=["tls-verify", "tls", "nick"],
)
def test_config_check_applies_the_environment_as_a_run_does(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    """LOGBOT_* variables change what `config check` reports exactly as they change a run."""
    config = write(tmp_path / "logbot.toml", 'server = "h"\nchannels = ["#x"]\ntls = true\n')
    result = CliRunner().invoke(main, ["config", "check", str(config)], env=env)
    assert result.exit_code == 0, result.output
    assert f"  {expected}" in result.output or f", {expected}" in result.output, result.output


def test_config_check_refuses_a_bad_environment_value_with_exit_2(tmp_path: Path) -> None:
    """A LOGBOT_* value the run would refuse makes the check fail too, naming the option."""
    config = write(tmp_path / "logbot.toml", 'server = "h"\nchannels = ["#x"]\n')
    result = CliRunner().invoke(
        main, ["config", "check", str(config)], env={"LOGBOT_FALLBACK_ENCODING": "rot13"}
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        'Error: LOGBOT_FALLBACK_ENCODING: "rot13" is not a text encoding'
    )
