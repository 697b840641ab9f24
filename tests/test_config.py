"""Settings from flags, environment, the TOML file and defaults; secrets and their masking."""

from __future__ import annotations

import datetime
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.logger import globalLogPublisher

from logbot.config import (
    CONFIG_KEYS,
    DEFAULT_FALLBACK_ENCODING,
    DEFAULT_NICK,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    ChannelConfig,
    ConfigError,
    Secret,
    Settings,
    WebConfig,
    build_settings,
)
from logbot.config_check import describe
from logbot.service import BackendRoute, backend_routes

SECRET = "s3cr3t-VALUE-42"
SASL_SECRET = "other-s3cr3t-99"


def make_cert(path: Path, *, key: bool = True, encrypted: bool = False, mode: int = 0o600) -> Path:
    """A self-signed certificate (and, by default, its unencrypted key) as one PEM file."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "logbot-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if key:
        protection: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(b"passphrase")
            if encrypted
            else serialization.NoEncryption()
        )
        pem += private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
        )
    path.write_bytes(pem)
    path.chmod(mode)
    return path


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(textwrap.dedent(text))
    path.chmod(mode)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "logbot.toml"


@pytest.fixture
def log_events() -> Iterator[list[dict[str, Any]]]:
    """Every event logged through twisted.logger while the test runs."""
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


# --- flags only ---------------------------------------------------------------------------


def test_flags_alone_describe_one_network_with_defaults() -> None:
    """Without a config file the flags make one network; everything else is a default."""
    settings = build_settings({"server": "irc.example.org", "channel": ("#x",)}, None, {})
    assert settings == Settings(
        networks=settings.networks, file=None, db=None, log_level="info", config_file=None
    )
    (network,) = settings.networks
    assert network.server == "irc.example.org"
    assert network.channels == (ChannelConfig("#x"),)
    assert network.name is None
    assert network.port == 6667
    assert network.tls is False
    assert network.tls_verify is True
    assert network.nick == DEFAULT_NICK
    assert network.ping_interval == DEFAULT_PING_INTERVAL
    assert network.ping_timeout == DEFAULT_PING_TIMEOUT
    assert network.fallback_encoding == DEFAULT_FALLBACK_ENCODING
    assert network.password is None
    assert network.sasl_mechanism is None
    assert (network.file, network.db) == (None, None)


def test_tls_changes_the_default_port_to_6697() -> None:
    """--tls without --port connects to 6697; an explicit port is kept."""
    tls = build_settings({"server": "h", "channel": ("#x",), "tls": True}, None, {})
    assert tls.networks[0].port == 6697
    explicit = build_settings(
        {"server": "h", "channel": ("#x",), "tls": True, "port": 7000}, None, {}
    )
    assert explicit.networks[0].port == 7000


def test_every_run_option_reaches_the_settings() -> None:
    """Each run option lands in its field, with channel keys split off."""
    given = {
        "server": "irc.example.org",
        "port": 6697,
        "tls": True,
        "tls_verify": False,
        "nick": "bot",
        "channel": ("#a", "#b key"),
        "file": "log.txt",
        "db": "postgresql+psycopg://u@localhost/logs",
        "network": "example",
        "ping_interval": 30.0,
        "ping_timeout": 90.0,
        "fallback_encoding": "cp1251",
        "log_level": "DEBUG",
    }
    settings = build_settings(given, None, {})
    (network,) = settings.networks
    assert (network.server, network.port, network.tls, network.tls_verify) == (
        "irc.example.org",
        6697,
        True,
        False,
    )
    assert network.nick == "bot"
    assert network.channels == (ChannelConfig("#a"), ChannelConfig("#b", "key"))
    assert network.name == "example"
    assert (network.ping_interval, network.ping_timeout) == (30.0, 90.0)
    assert network.fallback_encoding == "cp1251"
    assert (settings.file, settings.db) == ("log.txt", "postgresql+psycopg://u@localhost/logs")
    assert (network.file, network.db) == (settings.file, settings.db)
    assert settings.log_level == "debug"


def test_flag_paths_are_taken_as_given() -> None:
    """A relative --file is the shell's business: it is not rewritten."""
    settings = build_settings({"server": "h", "channel": ("#x",), "file": "rel/log.txt"}, None, {})
    assert settings.file == "rel/log.txt"


def test_a_programming_error_in_given_is_not_a_config_error() -> None:
    """An option name the CLI does not define is a bug, reported as ValueError."""
    with pytest.raises(ValueError, match="unknown run option 'bogus'") as info:
        build_settings({"server": "h", "channel": ("#x",), "bogus": 1}, None, {})
    assert not isinstance(info.value, ConfigError)


# --- precedence ---------------------------------------------------------------------------


def test_flags_override_the_file_and_the_file_overrides_defaults(config: Path) -> None:
    """A given option beats the file's value; a key only the file sets beats the default."""
    write(
        config,
        """
        server = "file.example"
        channels = ["#file"]
        nick = "filenick"
        ping_interval = 45
        log_level = "warn"
        """,
    )
    settings = build_settings({"nick": "flagnick", "channel": ("#flag",)}, str(config), {})
    (network,) = settings.networks
    assert network.nick == "flagnick"
    assert network.channels == (ChannelConfig("#flag"),)
    assert network.server == "file.example"
    assert network.ping_interval == 45.0
    assert network.ping_timeout == DEFAULT_PING_TIMEOUT
    assert settings.log_level == "warn"


def test_flags_override_a_network_tables_own_value(config: Path) -> None:
    """Flags win over the file everywhere, including inside [[network]] tables."""
    write(
        config,
        """
        nick = "topnick"
        [[network]]
        server = "a.example"
        channels = ["#a"]
        nick = "tablenick"
        [[network]]
        server = "b.example"
        channels = ["#b"]
        """,
    )
    settings = build_settings({"nick": "flagnick"}, str(config), {})
    assert [n.nick for n in settings.networks] == ["flagnick", "flagnick"]
    unflagged = build_settings({}, str(config), {})
    assert [n.nick for n in unflagged.networks] == ["tablenick", "topnick"]


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--nick", "flagnick"], {"LOGBOT_NICK": "envnick"}, "flagnick"),
        ([], {"LOGBOT_NICK": "envnick"}, "envnick"),
        ([], {}, "filenick"),
    ],
    ids=["flag-beats-env", "env-beats-file", "file-beats-default"],
)
def test_command_line_precedence_is_flags_then_env_then_file(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    """Through the real `logbot` command: --nick beats LOGBOT_NICK beats the file's nick."""
    import logbot.service

    write(config, 'server = "h"\nchannels = ["#x"]\nnick = "filenick"\n')
    ran: list[Settings] = []

    def fake_run(settings: Settings, reactor: Any = None) -> int:
        ran.append(settings)
        return 0

    monkeypatch.setattr(logbot.service, "run", fake_run)
    from logbot.cli import main

    result = CliRunner().invoke(
        main, ["--config", str(config), *argv], env={"LOGBOT_NICK": None, **env}
    )
    assert result.exit_code == 0, result.output
    assert ran[0].networks[0].nick == expected


# --- the file -----------------------------------------------------------------------------


def test_top_level_keys_are_defaults_for_every_network(config: Path) -> None:
    """Each [[network]] inherits top-level keys it does not set, and overrides those it does."""
    write(
        config,
        """
        nick = "logbot"
        tls = true
        channels = ["#default"]
        db = "/var/lib/logbot/logbot.sqlite"

        [[network]]
        name = "libera"
        server = "irc.libera.chat"
        channels = ["#x", "#private key123"]

        [[network]]
        name = "plain"
        server = "irc.example.net"
        tls = false
        nick = "other"
        """,
    )
    settings = build_settings({}, str(config), {})
    libera, plain = settings.networks
    assert (libera.name, libera.server, libera.tls, libera.port, libera.nick) == (
        "libera",
        "irc.libera.chat",
        True,
        6697,
        "logbot",
    )
    assert libera.channels == (ChannelConfig("#x"), ChannelConfig("#private", "key123"))
    assert (plain.name, plain.tls, plain.port, plain.nick) == ("plain", False, 6667, "other")
    assert plain.channels == (ChannelConfig("#default"),)
    assert settings.db == libera.db == plain.db == "/var/lib/logbot/logbot.sqlite"
    assert settings.config_file == str(config)


def test_a_file_without_network_tables_describes_one_network(config: Path) -> None:
    """Top-level server and channels make a single network; network = "NAME" names it."""
    write(config, 'network = "solo"\nserver = "h"\nchannel = "#only"\n')
    (network,) = build_settings({}, str(config), {}).networks
    assert (network.name, network.server, network.channels) == (
        "solo",
        "h",
        (ChannelConfig("#only"),),
    )


def test_flags_may_complete_a_single_network_file(config: Path) -> None:
    """--server and --channel fill in what a defaults-only file leaves out."""
    write(config, 'nick = "n"\n')
    settings = build_settings(
        {"server": "h", "channel": ("#x",), "network": "net"}, str(config), {}
    )
    (network,) = settings.networks
    assert (network.server, network.nick, network.name) == ("h", "n", "net")


def test_dashed_keys_work_like_the_flag_names(config: Path) -> None:
    """`tls-verify` and `ping-interval` (the flags' spelling) mean tls_verify and ping_interval."""
    write(config, 'server = "h"\nchannels = ["#x"]\ntls-verify = false\nping-interval = 30\n')
    (network,) = build_settings({}, str(config), {}).networks
    assert (network.tls_verify, network.ping_interval) == (False, 30.0)


def test_values_are_normalized(config: Path, tmp_path: Path) -> None:
    """Mechanism upper-cased, log level lower-cased, integers accepted for seconds."""
    write(tmp_path / "p", SASL_SECRET)
    write(
        config,
        """
        log_level = "ERROR"
        server = "h"
        channels = ["#x"]
        sasl_mechanism = "plain"
        sasl_password_file = "p"
        ping_timeout = 300
        """,
    )
    settings = build_settings({}, str(config), {})
    (network,) = settings.networks
    assert settings.log_level == "error"
    assert network.sasl_mechanism == "PLAIN"
    assert network.ping_timeout == 300.0
    assert isinstance(network.ping_timeout, float)


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths in the file resolve against its directory, wherever logbot is started."""
    etc = tmp_path / "etc"
    etc.mkdir()
    config = write(
        etc / "logbot.toml",
        """
        server = "h"
        channels = ["#x"]
        file = "logs/all.log"
        db = "state/logbot.sqlite"
        tls = true
        tls_ca = "ca.pem"
        client_cert = "client.pem"
        """,
    )
    make_cert(etc / "ca.pem", key=False, mode=0o644)
    make_cert(etc / "client.pem")
    monkeypatch.chdir(tmp_path)
    settings = build_settings({}, "etc/logbot.toml", {})
    (network,) = settings.networks
    assert settings.file == network.file == str(etc / "logs/all.log")
    assert settings.db == network.db == str(etc / "state/logbot.sqlite")
    assert network.tls_ca == str(etc / "ca.pem")
    assert network.client_cert == str(etc / "client.pem")
    assert config.exists()


def test_paths_expand_environment_variables_and_home(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """${VAR}, $VAR and ~ expand in path keys (e.g. systemd's $CREDENTIALS_DIRECTORY)."""
    creds = tmp_path / "creds"
    creds.mkdir()
    write(creds / "sasl.pass", SASL_SECRET + "\n")
    write(
        config,
        """
        server = "h"
        channels = ["#x"]
        sasl_password_file = "${CREDENTIALS_DIRECTORY}/sasl.pass"
        file = "$LOGS_DIRECTORY/all.log"
        db = "~/logbot.sqlite"
        """,
    )
    monkeypatch.setenv("HOME", "/home/u")
    env = {"CREDENTIALS_DIRECTORY": str(creds), "LOGS_DIRECTORY": "/var/log/logbot"}
    settings = build_settings({}, str(config), env)
    (network,) = settings.networks
    assert network.sasl_password == SASL_SECRET
    assert network.sasl_password is not None
    assert network.sasl_password.source == f"file {creds / 'sasl.pass'}"
    assert settings.file == "/var/log/logbot/all.log"
    assert settings.db == "/home/u/logbot.sqlite"


def test_database_urls_are_kept_as_they_are(config: Path) -> None:
    """A SQLAlchemy URL is not a path: no directory is prepended."""
    write(config, 'server = "h"\nchannels = ["#x"]\ndb = "postgresql+psycopg://logbot@/logbot"\n')
    assert build_settings({}, str(config), {}).db == "postgresql+psycopg://logbot@/logbot"


def test_channel_keys_and_names(config: Path) -> None:
    """Channel entries split into name and key; &, + and ! channels are channels too."""
    write(
        config,
        'server = "h"\nchannels = ["#a", "&local", "#keyed  k3y ", "+modeless", "!ABCDEsafe"]\n',
    )
    (network,) = build_settings({}, str(config), {}).networks
    assert network.channels == (
        ChannelConfig("#a"),
        ChannelConfig("&local"),
        ChannelConfig("#keyed", "k3y"),
        ChannelConfig("+modeless"),
        ChannelConfig("!ABCDEsafe"),
    )
    assert "k3y" not in repr(network)


# --- SASL ---------------------------------------------------------------------------------


def test_a_sasl_password_alone_means_plain_as_the_nick(config: Path, tmp_path: Path) -> None:
    """With a SASL password and no mechanism, logbot uses PLAIN with its nick as account."""
    write(tmp_path / "sasl.pass", SASL_SECRET)
    write(
        config, 'server = "h"\nchannels = ["#x"]\nnick = "me"\nsasl_password_file = "sasl.pass"\n'
    )
    (network,) = build_settings({}, str(config), {}).networks
    assert (network.sasl_mechanism, network.sasl_user, network.sasl_password) == (
        "PLAIN",
        "me",
        SASL_SECRET,
    )
    assert network.sasl_required is False


def test_sasl_external_uses_the_client_certificate(config: Path, tmp_path: Path) -> None:
    """EXTERNAL with a TLS client certificate needs no password."""
    make_cert(tmp_path / "client.pem")
    write(
        config,
        """
        [[network]]
        server = "h"
        tls = true
        channels = ["#x"]
        client_cert = "client.pem"
        sasl_mechanism = "EXTERNAL"
        sasl_required = true
        """,
    )
    (network,) = build_settings({}, str(config), {}).networks
    assert (network.sasl_mechanism, network.sasl_password, network.sasl_required) == (
        "EXTERNAL",
        None,
        True,
    )
    assert network.client_cert == str(tmp_path / "client.pem")


# --- secrets ------------------------------------------------------------------------------


def test_single_network_secrets_come_from_logbot_environment_variables() -> None:
    """LOGBOT_PASSWORD and LOGBOT_SASL_PASSWORD give a flags-only run its secrets."""
    env = {"LOGBOT_PASSWORD": SECRET, "LOGBOT_SASL_PASSWORD": SASL_SECRET}
    (network,) = build_settings({"server": "h", "channel": ("#x",)}, None, env).networks
    assert isinstance(network.password, Secret)
    assert network.password.reveal() == SECRET
    assert network.password.source == "environment variable LOGBOT_PASSWORD"
    assert network.sasl_password == SASL_SECRET
    assert network.sasl_mechanism == "PLAIN"


def test_an_empty_logbot_password_variable_counts_as_unset() -> None:
    """LOGBOT_PASSWORD= (empty) means no password rather than an empty one."""
    (network,) = build_settings(
        {"server": "h", "channel": ("#x",)}, None, {"LOGBOT_PASSWORD": ""}
    ).networks
    assert network.password is None


def test_the_environment_beats_the_file_for_a_single_networks_secret(
    config: Path, tmp_path: Path
) -> None:
    """LOGBOT_PASSWORD overrides the password_file the file names (env > file)."""
    write(tmp_path / "pass", "from-file")
    write(config, 'server = "h"\nchannels = ["#x"]\npassword_file = "pass"\n')
    (network,) = build_settings({}, str(config), {"LOGBOT_PASSWORD": SECRET}).networks
    assert network.password == SECRET


def test_each_network_names_its_own_secret_sources(config: Path, tmp_path: Path) -> None:
    """password_env / sasl_password_file per network; a table's source replaces the default."""
    write(tmp_path / "default.pass", "default-pass")
    write(tmp_path / "b.sasl", SASL_SECRET + "\r\n")
    write(
        config,
        """
        password_file = "default.pass"
        [[network]]
        server = "a"
        channels = ["#a"]
        password_env = "NET_A_PASS"
        [[network]]
        server = "b"
        channels = ["#b"]
        sasl_password_file = "b.sasl"
        """,
    )
    a, b = build_settings({}, str(config), {"NET_A_PASS": SECRET}).networks
    assert a.password == SECRET
    assert a.password is not None
    assert a.password.source == "environment variable NET_A_PASS"
    assert b.password == "default-pass"
    assert b.sasl_password == SASL_SECRET
    assert a.sasl_password is None


def test_secrets_never_show_in_repr_str_or_description(config: Path, tmp_path: Path) -> None:
    """Passwords from env and file, and channel keys, are masked in every rendering."""
    write(tmp_path / "sasl.pass", SASL_SECRET)
    write(
        config,
        """
        [[network]]
        name = "n"
        server = "h"
        channels = ["#x", "#k chankey-77"]
        password_env = "PASSVAR"
        sasl_password_file = "sasl.pass"
        """,
    )
    settings = build_settings({}, str(config), {"PASSVAR": SECRET})
    network = settings.networks[0]
    assert network.password == SECRET
    assert network.sasl_password == SASL_SECRET
    renderings = [repr(settings), str(settings), describe(settings), repr(network), str(network)]
    renderings += [repr(network.password), f"{network!r}", f"{network.sasl_password!r}"]
    for text in renderings:
        assert SECRET not in text
        assert SASL_SECRET not in text
        assert "chankey-77" not in text
    assert "Secret('***')" in repr(network)


def test_secrets_never_show_in_error_messages(config: Path, tmp_path: Path) -> None:
    """An error raised after the secrets were read does not quote them."""
    write(tmp_path / "sasl.pass", SASL_SECRET)
    make_cert(tmp_path / "client.pem")
    write(
        config,
        """
        server = "h"
        tls = true
        channels = ["#x"]
        client_cert = "client.pem"
        password_env = "PASSVAR"
        sasl_password_file = "sasl.pass"
        sasl_mechanism = "EXTERNAL"
        """,
    )
    with pytest.raises(ConfigError) as info:
        build_settings({}, str(config), {"PASSVAR": SECRET})
    assert "remove the SASL password" in str(info.value)
    assert SECRET not in str(info.value)
    assert SASL_SECRET not in str(info.value)


def test_secrets_never_reach_the_log(
    config: Path, tmp_path: Path, log_events: list[dict[str, Any]]
) -> None:
    """What building the settings logs (warnings) names files, not their contents."""
    from twisted.logger import formatEvent

    write(tmp_path / "sasl.pass", SASL_SECRET, mode=0o644)
    write(config, 'server = "h"\nchannels = ["#x"]\nsasl_password_file = "sasl.pass"\n')
    build_settings({}, str(config), {"LOGBOT_PASSWORD": SECRET})
    logged = [formatEvent(e) for e in log_events]
    assert logged
    assert all(SECRET not in line and SASL_SECRET not in line for line in logged)


def test_a_secret_file_others_can_read_is_warned_about(
    config: Path, tmp_path: Path, log_events: list[dict[str, Any]]
) -> None:
    """A group- or world-readable secret file still works, with a warning logged and kept."""
    from twisted.logger import LogLevel, formatEvent

    secret = write(tmp_path / "sasl.pass", SASL_SECRET, mode=0o644)
    write(config, 'server = "h"\nchannels = ["#x"]\nsasl_password_file = "sasl.pass"\n')
    settings = build_settings({}, str(config), {})
    expected = (
        f"{config}: sasl_password_file: secret file {secret} is readable by its group "
        "and every user (mode 0644); chmod 600 it"
    )
    assert settings.warnings == (expected,)
    assert settings.networks[0].sasl_password == SASL_SECRET
    warned = [formatEvent(e) for e in log_events if e.get("log_level") == LogLevel.warn]
    assert warned == [expected]
    assert f"warning: {expected}" in describe(settings)


def test_a_group_readable_secret_file_names_only_the_group(config: Path, tmp_path: Path) -> None:
    """Mode 0640 is reported as readable by its group."""
    secret = write(tmp_path / "p", SECRET, mode=0o640)
    write(config, 'server = "h"\nchannels = ["#x"]\npassword_file = "p"\n')
    (warning,) = build_settings({}, str(config), {}).warnings
    assert warning.endswith(
        f"secret file {secret} is readable by its group (mode 0640); chmod 600 it"
    )


def test_a_private_secret_file_is_not_warned_about(config: Path, tmp_path: Path) -> None:
    """Mode 0600 (or 0400) is what we ask for: no warning."""
    write(tmp_path / "p", SECRET, mode=0o400)
    write(config, 'server = "h"\nchannels = ["#x"]\npassword_file = "p"\n')
    assert build_settings({}, str(config), {}).warnings == ()


def test_a_client_certificate_key_others_can_read_is_warned_about(
    config: Path, tmp_path: Path
) -> None:
    """The client certificate file holds a private key: its mode is checked too."""
    cert = make_cert(tmp_path / "client.pem", mode=0o604)
    write(config, 'server = "h"\ntls = true\nchannels = ["#x"]\nclient_cert = "client.pem"\n')
    (warning,) = build_settings({}, str(config), {}).warnings
    assert warning == (
        f"{config}: client_cert: client certificate key {cert} is readable by every user "
        "(mode 0604); chmod 600 it"
    )


def test_no_flag_accepts_a_secret() -> None:
    """No run option takes a password, so none can show up in `ps`."""
    from logbot.cli import main

    names = {opt for param in main.params for opt in (*param.opts, *param.secondary_opts)}
    assert not [name for name in names if "pass" in name.lower() or "secret" in name.lower()]
    result = CliRunner().invoke(main, ["--server", "h", "--channel", "#x", "--password", SECRET])
    assert result.exit_code == 2
    assert "No such option '--password'" in result.output


# --- routing and description ---------------------------------------------------------------


def test_backend_routes_group_networks_by_backend(config: Path) -> None:
    """Shared backends serve every network; a network's own file replaces the shared file."""
    write(
        config,
        """
        file = "/logs/all.log"
        db = "/state/logbot.sqlite"
        [[network]]
        server = "a"
        channels = ["#a"]
        [[network]]
        server = "b"
        channels = ["#b1", "#b2"]
        file = "/logs/b.log"
        [[network]]
        server = "c"
        channels = ["#c"]
        """,
    )
    settings = build_settings({}, str(config), {})
    assert backend_routes(settings) == (
        BackendRoute("file", "/logs/all.log", (0, 2), multi_channel=True),
        BackendRoute("sql", "/state/logbot.sqlite", (0, 1, 2), multi_channel=True),
        BackendRoute("file", "/logs/b.log", (1,), multi_channel=True),
    )


def test_without_backends_every_network_goes_to_the_default_database() -> None:
    """No file and no db: one SQL route with no target (SQLite at the default path)."""
    settings = build_settings({"server": "h", "channel": ("#x",)}, None, {})
    assert backend_routes(settings) == (BackendRoute("sql", None, (0,), multi_channel=False),)


def test_describe_explains_a_run(config: Path, tmp_path: Path) -> None:
    """The description names networks, servers, TLS, channels, SASL, secret sources, backends."""
    write(tmp_path / "libera.pass", SASL_SECRET)
    write(
        config,
        """
        db = "postgresql+psycopg://logbot:dbpass@db.example/logbot"
        [[network]]
        name = "libera"
        server = "irc.libera.chat"
        tls = true
        channels = ["#x", "#private key123"]
        sasl_user = "acct"
        sasl_password_file = "libera.pass"
        sasl_required = true
        [[network]]
        server = "irc.example.net"
        channels = ["#y"]
        tls = true
        tls_verify = false
        username = "ident"
        realname = "Log Bot"
        password_env = "PW"
        file = "/logs/y.log"
        ping_interval = 30
        fallback_encoding = "cp1251"
        """,
    )
    text = describe(build_settings({}, str(config), {"PW": SECRET}))
    assert text == textwrap.dedent(
        f"""\
        config file: {config}
        2 networks, log level info
        log files: created 0600

        network libera
          server: irc.libera.chat port 6697, TLS, certificate verified against the system CA store
          nick: logbot
          channels: #x, #private (key set)
          server password: none
          sasl: PLAIN as acct, required (never joins unauthenticated)
          sasl password: from file {tmp_path / "libera.pass"}
          keepalive: PING every 60s, reconnect after 120s without an answer
          bytes that are not UTF-8 decoded as: latin-1
          unlogged lines start with: "[nolog]", "[off]"
          opted-out nicks: none
          retention (days): none
          web archive: public
          events to: database postgresql+psycopg://logbot:***@db.example/logbot

        network (name from the server)
          server: irc.example.net port 6697, TLS, certificate NOT verified
          nick: logbot (username ident, realname "Log Bot")
          channels: #y
          server password: from environment variable PW
          sasl: none
          keepalive: PING every 30s, reconnect after 120s without an answer
          bytes that are not UTF-8 decoded as: cp1251
          unlogged lines start with: "[nolog]", "[off]"
          opted-out nicks: none
          retention (days): none
          web archive: public
          events to: text file /logs/y.log, database postgresql+psycopg://logbot:***@db.example/logbot

        warning: {config}: libera #x: published (public) without announce

        warning: {config}: libera #private: published (public) without announce

        warning: {config}: network #2 #y: published (public) without announce"""
    )
    assert "dbpass" not in text


def test_describe_a_plain_single_network() -> None:
    """A flags-only run: no config line, plain text, the default database."""
    settings = build_settings({"server": "h", "channel": ("#x",), "file": "x.log"}, None, {})
    assert describe(settings).splitlines()[:4] == [
        "1 network, log level info",
        "log files: created 0600",
        "",
        "network (name from the server)",
    ]
    assert "  server: h port 6667, plain text (no TLS)" in describe(settings)
    assert "  events to: text file x.log" in describe(settings)
    bare = build_settings({"server": "h", "channel": ("#x",)}, None, {})
    assert "  events to: SQLite at the default per-user path" in describe(bare)


# --- the key table ------------------------------------------------------------------------


def test_every_flagged_key_is_a_run_option_reading_its_logbot_variable() -> None:
    """The table alone makes the run flags: each flagged key is an option with its LOGBOT_ name."""
    from logbot.cli import main
    from logbot.setting_keys import KEYS

    main.add_run_options()
    options = {p.name: p for p in main.params if isinstance(p, click.Option)}
    flagged = [key for key in KEYS if key.flag is not None]
    assert flagged
    for key in flagged:
        assert key.flag in options, key.name
        option = options[key.flag]
        assert option.envvar == "LOGBOT_" + key.flag.upper()
        assert key.option in option.opts
        assert option.multiple == key.multiple
    assert set(options) - {k.flag for k in flagged} == {"config_file", "version"}


def test_every_key_of_the_table_is_a_config_file_key() -> None:
    """The file accepts exactly the table's keys (dashes for underscores, channel = channels)."""
    from logbot.setting_keys import KEYS, WEB_KEYS

    assert {key.name for key in KEYS if key.scope != "web"} == CONFIG_KEYS
    assert {key.name for key in KEYS if key.scope == "web"} == set(WEB_KEYS)


def test_a_labelled_key_is_described_by_config_check() -> None:
    """A key with a label in the table gets its own line in the description."""
    settings = build_settings(
        {"server": "h", "channel": ("#x",), "fallback_encoding": "cp1252"}, None, {}
    )
    assert "  bytes that are not UTF-8 decoded as: cp1252" in describe(settings).splitlines()


def test_config_check_shows_file_modes_compression_and_plaintext_secrets(config: Path) -> None:
    """The settings that decide who may read the logs and what crosses the wire unencrypted
    are spelled out, not left for the operator to guess."""
    write(
        config,
        """
        file_mode = "0640"
        compress_after_days = 7
        log_dir = "/logs"
        [[network]]
        server = "h"
        tls = false
        channels = ["#x"]
        allow_plaintext_secrets = true
        """,
    )
    lines = describe(build_settings({}, str(config), {})).splitlines()
    assert "log files: created 0640, a log_dir day's file gzipped 7 days after it" in lines
    assert "  secrets: may be sent without TLS (allow_plaintext_secrets)" in lines
    write(config, 'server = "h"\nchannels = ["#x"]\n')
    lines = describe(build_settings({}, str(config), {})).splitlines()
    assert "log files: created 0600" in lines
    assert not [line for line in lines if "secrets:" in line]


def test_config_check_shows_every_key_of_the_table_or_says_it_does_not() -> None:
    """Each key has a label (a line of its own) or names a combined line of its part of the
    output; a channel table's keys each have their phrase; the rest are listed as not shown."""
    from logbot.config_check import CHANNEL_PHRASES, LINES, NOT_SHOWN
    from logbot.setting_keys import KEYS

    for key in KEYS:
        if key.name in NOT_SHOWN:
            assert (key.label, key.line) == (None, None), key.name
        elif key.scope == "channel":
            assert key.name in CHANNEL_PHRASES, key.name
        else:
            assert (key.label is None) != (key.line is None), key.name
            if key.line is not None:
                assert key.line in [line.name for line in LINES[key.scope]], key.name
    assert set(CHANNEL_PHRASES) == {key.name for key in KEYS if key.channel}
    named = {(key.scope, key.line) for key in KEYS if key.line is not None}
    for scope, lines in LINES.items():
        for line in lines[1:]:
            # each combined line shows a key (the run's config file line is the --config)
            assert (scope, line.name) in named or line.name in ("labelled keys", "config file")


# --- [metrics] ----------------------------------------------------------------------------


def test_metrics_table_listen_is_the_address_and_the_flag_overrides_it(config: Path) -> None:
    """[metrics] listen = "HOST:PORT" in the file; --metrics (or LOGBOT_METRICS) wins."""
    write(
        config,
        """
        server = "h"
        channels = ["#x"]

        [metrics]
        listen = "127.0.0.1:9108"
        """,
    )
    assert build_settings({}, str(config), {}).metrics == "127.0.0.1:9108"
    assert build_settings({"metrics": "[::1]:9200"}, str(config), {}).metrics == "[::1]:9200"
    assert build_settings({"server": "h", "channel": ("#x",)}, None, {}).metrics is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[metrics]\nlisten = "9108"', 'metrics.listen: must be HOST:PORT (a port from 1 to '
         '65535), got "9108"'),
        ('[metrics]\nlisten = "h:0"', 'metrics.listen: must be HOST:PORT (a port from 1 to '
         '65535), got "h:0"'),
        ('[metrics]\nlisten = "::1:9108"', "metrics.listen: write an IPv6 address in brackets, "
         'as [::1]:8080, got "::1:9108"'),
        ('[metrics]\nport = 9108', "metrics.port: unknown key (the [metrics] table has listen "
         "only)"),
        ("[metrics]", 'metrics: missing listen: write listen = "127.0.0.1:9108"'),
        ('[[network]]\nserver = "h"\nchannels = ["#x"]\nmetrics = "h:1"',
         "network #1: metrics: only allowed at the top level (it is one for the process)"),
    ],
)  # fmt: skip
def test_a_wrong_metrics_setting_names_the_key(config: Path, body: str, message: str) -> None:
    top = "" if body.startswith("[[") else 'server = "h"\nchannels = ["#x"]\n'
    config.write_text(top + body + "\n")
    with pytest.raises(ConfigError) as caught:
        build_settings({}, str(config), {})
    assert str(caught.value) == f"{config}: {message}"


def test_metrics_flag_is_checked_like_the_file(config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings({"server": "h", "channel": ("#x",), "metrics": "nowhere"}, None, {})
    assert (
        str(caught.value) == '--metrics: must be HOST:PORT (a port from 1 to 65535), got "nowhere"'
    )


def test_config_check_says_where_metrics_are_served(config: Path) -> None:
    """`config check` names both pages when metrics are on, and says nothing when off."""
    write(config, 'server = "h"\nchannels = ["#x"]\nmetrics = { listen = "127.0.0.1:9108" }\n')
    lines = describe(build_settings({}, str(config), {})).splitlines()
    assert lines[2] == ("metrics: http://127.0.0.1:9108/metrics and http://127.0.0.1:9108/healthz")
    off = describe(build_settings({"server": "h", "channel": ("#x",)}, None, {}))
    assert "metrics" not in off


# --- the [web] table ----------------------------------------------------------------------


def test_a_web_table_serves_the_archive_from_the_bot(config: Path) -> None:
    """[web] gives the listen address, the channels shown, the title and noindex."""
    write(
        config,
        """
        server = "irc.example.org"
        channels = ["#x", "#y"]
        [web]
        listen = "127.0.0.1:8080"
        channels = ["#x"]
        title = "Our logs"
        noindex = false
        """,
    )
    settings = build_settings({}, str(config), {})
    assert settings.web == WebConfig(
        host="127.0.0.1", port=8080, channels=("#x",), title="Our logs", noindex=False
    )
    text = describe(settings)
    assert "web pages: http://127.0.0.1:8080/" in text
    assert "  channels: #x" in text.split("web pages:")[1]
    assert "search engines: may index" in text


def test_a_web_table_has_defaults_but_listen(config: Path) -> None:
    write(config, 'server = "irc.example.org"\nchannels = ["#x"]\n[web]\nlisten = "[::1]:80"\n')
    assert build_settings({}, str(config), {}).web == WebConfig(host="::1", port=80)
    write(config, 'server = "irc.example.org"\nchannels = ["#x"]\n')
    assert build_settings({}, str(config), {}).web is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('title = "x"', 'web: needs listen = "HOST:PORT"'),
        ('listen = "8080"', 'web.listen: must be HOST:PORT (a port from 1 to 65535), got "8080"'),
        ('listen = "h:1"\nnick = "x"', "web.nick: unknown key"),
        ('listen = "h:1"\nchannels = ["#x key"]', 'web.channels: "#x": a channel name only'),
        ('listen = "h:1"\nnoindex = "yes"', "web.noindex: must be true or false, got a string"),
    ],
)
def test_a_wrong_web_table_is_one_line_naming_the_key(
    config: Path, table: str, message: str
) -> None:
    write(config, f'server = "irc.example.org"\nchannels = ["#x"]\n[web]\n{table}\n')
    with pytest.raises(ConfigError) as caught:
        build_settings({}, str(config), {})
    assert str(caught.value).startswith(f"{config}: {message}")


def test_web_must_be_a_table(config: Path) -> None:
    write(config, 'server = "irc.example.org"\nchannels = ["#x"]\nweb = "yes"\n')
    with pytest.raises(ConfigError, match="web: must be a \\[web\\] table, got a string"):
        build_settings({}, str(config), {})


def test_a_web_table_needs_the_top_level_db_when_networks_name_their_own(config: Path) -> None:
    write(
        config,
        """
        [web]
        listen = "127.0.0.1:8080"
        [[network]]
        server = "irc.example.org"
        channels = ["#x"]
        db = "own.sqlite"
        """,
    )
    with pytest.raises(ConfigError, match="web: shows the top-level db, but the networks"):
        build_settings({}, str(config), {})
