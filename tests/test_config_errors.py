"""Every config error is one line naming the file (or flag, or variable), the key and the fault.

Each case writes a config file (``{f}`` in the expected text) into a fresh directory
(``{d}``), plus any helper files, and checks the exact message.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from logbot.config import ConfigError, build_settings
from tests.test_config import SECRET, make_cert

NET = 'server = "h"\nchannels = ["#x"]\n'
"""The smallest valid single-network file, for cases that add one bad key to it."""
TWO_NETWORKS = '[[network]]\nserver = "a"\nchannels = ["#x"]\n' * 2


@dataclass
class Case:
    id: str
    toml: str | None
    expected: str
    given: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: name -> text, or "cert" / "cert-only" / "cert-encrypted" / "cert-mismatch" / "bytes:..."
    files: dict[str, str] = field(default_factory=dict)


CASES = [
    # --- reading the file
    Case("missing-file", None, "{f}: cannot read: No such file or directory"),
    Case(
        "bad-toml",
        "server = \n",
        "{f}: not valid TOML: Invalid value (at line 1, column 10)",
    ),
    # --- keys
    Case("unknown-key-close", NET + "prot = 6697\n", "{f}: prot: unknown key (did you mean port?)"),
    Case("unknown-key", NET + "colour = 1\n", "{f}: colour: unknown key"),
    Case(
        "unknown-key-in-table",
        '[[network]]\nserver = "h"\nchannels = ["#x"]\nsasl_pasword_file = "p"\n',
        "{f}: network #1: sasl_pasword_file: unknown key (did you mean sasl_password_file?)",
    ),
    Case(
        "password-in-file",
        NET + 'password = "x"\n',
        "{f}: password: secrets are never read from the config file: use password_env "
        "(an environment variable) or password_file (a file only logbot can read)",
    ),
    Case(
        "sasl-password-in-table",
        '[[network]]\nserver = "h"\nchannels = ["#x"]\nsasl_password = "hunter2"\n',
        "{f}: network #1: sasl_password: secrets are never read from the config file: use "
        "sasl_password_env (an environment variable) or sasl_password_file (a file only "
        "logbot can read)",
    ),
    Case(
        "log-level-in-table",
        '[[network]]\nserver = "h"\nchannels = ["#x"]\nlog_level = "debug"\n',
        "{f}: network #1: log_level: only allowed at the top level (it is one for the process)",
    ),
    Case(
        "network-in-table",
        '[[network]]\nserver = "h"\nchannels = ["#x"]\nnetwork = "n"\n',
        "{f}: network #1: network: unknown key (a network's name is its name key)",
    ),
    Case(
        "name-at-top-level",
        NET + 'name = "n"\n',
        '{f}: name: unknown key at the top level (network = "NAME" names the one network '
        "of a file without [[network]] tables)",
    ),
    Case(
        "key-given-twice",
        NET + "tls-verify = true\ntls_verify = true\n",
        "{f}: tls_verify: given twice (as tls-verify and as tls_verify)",
    ),
    Case(
        "channel-and-channels",
        'server = "h"\nchannel = "#a"\nchannels = ["#b"]\n',
        "{f}: channels: given twice (as channel and as channels)",
    ),
    # --- the network tables
    Case(
        "network-single-table",
        '[network]\nserver = "h"\n',
        "{f}: network: write [[network]] (an array of tables) for each network, "
        'or network = "NAME" to name the one network of this file',
    ),
    Case(
        "network-empty",
        "network = []\n",
        "{f}: network: no networks: add a [[network]] table for each",
    ),
    Case(
        "network-not-tables",
        "network = [1]\n",
        "{f}: network: must be [[network]] tables, got an integer",
    ),
    Case(
        "missing-server",
        'channels = ["#x"]\n',
        "{f}: server: missing: set server (or give --server)",
    ),
    Case(
        "missing-server-in-table",
        '[[network]]\nserver = "a"\nchannels = ["#x"]\n[[network]]\nchannels = ["#y"]\n',
        "{f}: network #2: server: missing: set server in every [[network]] table",
    ),
    Case(
        "missing-channels",
        'server = "h"\n',
        '{f}: channels: missing: list at least one channel, e.g. channels = ["#x"]',
    ),
    Case(
        "missing-channels-in-table",
        '[[network]]\nserver = "h"\n',
        '{f}: network #1: channels: missing: list at least one channel, e.g. channels = ["#x"]',
    ),
    Case(
        "duplicate-network-name",
        '[[network]]\nname = "Libera"\nserver = "a"\nchannels = ["#x"]\n'
        '[[network]]\nname = "libera"\nserver = "b"\nchannels = ["#x"]\n',
        '{f}: network #2: name: "libera" is already the name of network #1',
    ),
    # --- types and values
    Case(
        "port-string",
        NET + 'port = "6697"\n',
        '{f}: port: must be an integer from 1 to 65535, got a string "6697"',
    ),
    Case(
        "port-range",
        NET + "port = 70000\n",
        "{f}: port: must be an integer from 1 to 65535, got 70000",
    ),
    Case(
        "port-bool",
        NET + "port = true\n",
        "{f}: port: must be an integer from 1 to 65535, got a boolean true",
    ),
    Case(
        "tls-string", NET + 'tls = "yes"\n', '{f}: tls: must be true or false, got a string "yes"'
    ),
    Case(
        "inherited-value-names-the-network",
        'client_cert = "c.pem"\n[[network]]\nserver = "a"\ntls = true\nchannels = ["#x"]\n'
        '[[network]]\nserver = "b"\nchannels = ["#x"]\n',
        "{f}: client_cert (default for network #2): a client certificate needs tls = true",
        files={"c.pem": "cert"},
    ),
    Case(
        "overridden-default-still-checked",
        'nick = "bad nick"\n[[network]]\nserver = "h"\nchannels = ["#x"]\nnick = "ok"\n',
        '{f}: nick: "bad nick" is not a valid IRC nick (a letter or one of []\\`_^{{|}} first, '
        "then letters, digits, - and those)",
    ),
    Case(
        "top-level-type-checked-once",
        'tls = 1\n[[network]]\nserver = "h"\nchannels = ["#x"]\n',
        "{f}: tls: must be true or false, got an integer 1",
    ),
    Case(
        "ping-zero",
        NET + "ping_interval = 0\n",
        "{f}: ping_interval: must be at least 1 second, got 0",
    ),
    Case(
        "ping-string",
        NET + 'ping_timeout = "2m"\n',
        '{f}: ping_timeout: must be a number of seconds, got a string "2m"',
    ),
    Case(
        "date-value",
        NET + "ping_timeout = 2024-01-01\n",
        "{f}: ping_timeout: must be a number of seconds, got a date/time",
    ),
    Case(
        "bad-nick",
        NET + 'nick = "9lives"\n',
        '{f}: nick: "9lives" is not a valid IRC nick (a letter or one of []\\`_^{{|}} first, '
        "then letters, digits, - and those)",
    ),
    Case("empty-nick", NET + 'nick = " "\n', "{f}: nick: must not be empty"),
    Case(
        "control-character",
        NET + 'realname = "a\\u0007b"\n',
        "{f}: realname: must not contain control characters",
    ),
    Case(
        "server-with-space",
        'server = "irc example"\nchannels = ["#x"]\n',
        '{f}: server: must not contain spaces, got "irc example"',
    ),
    Case("username-at", NET + 'username = "a@b"\n', '{f}: username: must not contain @, got "a@b"'),
    Case(
        "unknown-encoding",
        NET + 'fallback_encoding = "klingon"\n',
        '{f}: fallback_encoding: unknown encoding "klingon"',
    ),
    Case(
        "log-level",
        NET + 'log_level = "loud"\n',
        '{f}: log_level: must be one of debug, info, warn, error, got "loud"',
    ),
    Case(
        "sasl-mechanism",
        NET + 'sasl_mechanism = "SCRAM-SHA-256"\n',
        '{f}: sasl_mechanism: must be PLAIN or EXTERNAL, got "SCRAM-SHA-256"',
    ),
    Case(
        "env-name",
        NET + 'password_env = "1PASS"\n',
        '{f}: password_env: "1PASS" is not an environment variable name',
    ),
    Case(
        "bad-db-url",
        NET + 'db = "postgresql://u:pw@host:notaport/db"\n',
        "{f}: db: is not a valid database URL (dialect+driver://user@host/database)",
    ),
    Case(
        # a sqlite: URL, as --db reads it (not a file named "sqlite:x.db" next to the config)
        "bad-sqlite-url",
        NET + 'db = "sqlite:x.db"\n',
        "{f}: db: is not a valid database URL (dialect+driver://user@host/database)",
    ),
    # --- channels
    Case(
        "channels-type",
        'server = "h"\nchannels = 42\n',
        "{f}: channels: must be an array of channel names, got an integer 42",
    ),
    Case(
        "channels-empty",
        'server = "h"\nchannels = []\n',
        "{f}: channels: must list at least one channel",
    ),
    Case(
        "channel-not-string",
        'server = "h"\nchannels = ["#a", 1]\n',
        "{f}: channels: each channel must be a string or a table, got an integer 1",
    ),
    Case(
        "channel-no-prefix",
        'server = "h"\nchannels = ["logbot"]\n',
        '{f}: channels: "logbot" is not a channel name (it starts with #, &, + or ! '
        "and has no comma)",
    ),
    Case(
        "channel-blank",
        'server = "h"\nchannels = [" "]\n',
        "{f}: channels: a channel name is empty",
    ),
    Case(
        "channel-too-many-words",
        'server = "h"\nchannels = ["#a key-9 extra"]\n',
        '{f}: channels: "#a": write a channel as "NAME" or "NAME KEY"',
    ),
    Case(
        "channel-twice",
        'server = "h"\nchannels = ["#Logs", "#logs key"]\n',
        '{f}: channels: "#logs" is listed twice',
    ),
    # --- TLS files
    Case(
        "tls-ca-missing",
        NET + 'tls = true\ntls_ca = "nope.pem"\n',
        "{f}: tls_ca: cannot read {d}/nope.pem: No such file or directory",
    ),
    Case(
        "tls-ca-not-pem",
        NET + 'tls = true\ntls_ca = "ca.pem"\n',
        "{f}: tls_ca: {d}/ca.pem holds no PEM CA certificate",
        files={"ca.pem": "not a certificate\n"},
    ),
    Case(
        "client-cert-without-tls",
        NET + 'client_cert = "c.pem"\n',
        "{f}: client_cert: a client certificate needs tls = true",
        files={"c.pem": "cert"},
    ),
    Case(
        "client-cert-missing",
        NET + 'tls = true\nclient_cert = "c.pem"\n',
        "{f}: client_cert: cannot read {d}/c.pem: No such file or directory",
    ),
    Case(
        "client-cert-no-cert",
        NET + 'tls = true\nclient_cert = "c.pem"\n',
        "{f}: client_cert: {d}/c.pem holds no PEM certificate",
        files={"c.pem": "hello\n"},
    ),
    Case(
        "client-cert-no-key",
        NET + 'tls = true\nclient_cert = "c.pem"\n',
        "{f}: client_cert: {d}/c.pem holds no private key (put it in the same PEM file as the "
        "certificate)",
        files={"c.pem": "cert-only"},
    ),
    Case(
        "client-cert-encrypted",
        NET + 'tls = true\nclient_cert = "c.pem"\n',
        "{f}: client_cert: the private key in {d}/c.pem is encrypted; logbot needs it unencrypted",
        files={"c.pem": "cert-encrypted"},
    ),
    Case(
        "client-cert-mismatch",
        NET + 'tls = true\nclient_cert = "c.pem"\n',
        "{f}: client_cert: the private key in {d}/c.pem does not belong to its certificate",
        files={"c.pem": "cert-mismatch"},
    ),
    Case(
        "client-cert-garbled",
        NET + 'tls = true\nclient_cert = "c.pem"\n',
        "{f}: client_cert: {d}/c.pem is not a usable PEM certificate and private key",
        files={
            "c.pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        },
    ),
    # --- SASL
    Case(
        "plain-without-password",
        NET + 'sasl_mechanism = "PLAIN"\n',
        "{f}: sasl_mechanism: PLAIN needs a SASL password: set sasl_password_env or "
        "sasl_password_file (or LOGBOT_SASL_PASSWORD)",
    ),
    Case(
        "plain-without-password-multi",
        '[[network]]\nserver = "a"\nchannels = ["#x"]\nsasl_mechanism = "PLAIN"\n'
        '[[network]]\nserver = "b"\nchannels = ["#x"]\n',
        "{f}: network #1: sasl_mechanism: PLAIN needs a SASL password: set sasl_password_env or "
        "sasl_password_file",
    ),
    Case(
        "external-without-cert",
        NET + 'tls = true\nsasl_mechanism = "EXTERNAL"\n',
        "{f}: sasl_mechanism: EXTERNAL needs client_cert (a PEM certificate and key)",
    ),
    Case(
        "external-with-password",
        NET + 'tls = true\nclient_cert = "c.pem"\nsasl_mechanism = "EXTERNAL"\n',
        "{f}: sasl_mechanism: EXTERNAL authenticates with the client certificate; remove the "
        "SASL password",
        env={"LOGBOT_SASL_PASSWORD": SECRET},
        files={"c.pem": "cert"},
    ),
    Case(
        "sasl-required-without-sasl",
        NET + "sasl_required = true\n",
        "{f}: sasl_required: needs sasl_mechanism (PLAIN with a password, or EXTERNAL)",
    ),
    # --- secrets
    Case(
        "password-env-unset",
        NET + 'password_env = "NET_PASS"\n',
        "{f}: password_env: environment variable NET_PASS is not set",
    ),
    Case(
        "password-env-empty",
        NET + 'password_env = "NET_PASS"\n',
        "{f}: password_env: environment variable NET_PASS is empty",
        env={"NET_PASS": ""},
    ),
    Case(
        "password-env-and-file",
        NET + 'password_env = "NET_PASS"\npassword_file = "p"\n',
        "{f}: password_file: set password_env or password_file, not both",
        env={"NET_PASS": SECRET},
    ),
    Case(
        "secret-file-missing",
        NET + 'sasl_password_file = "nope"\n',
        "{f}: sasl_password_file: cannot read {d}/nope: No such file or directory",
    ),
    Case(
        "secret-file-empty",
        NET + 'password_file = "p"\n',
        "{f}: password_file: {d}/p is empty",
        files={"p": "\n"},
    ),
    Case(
        "secret-file-not-utf8",
        NET + 'password_file = "p"\n',
        "{f}: password_file: {d}/p is not UTF-8 text",
        files={"p": "bytes:\xff\xfe"},
    ),
    Case(
        "secret-file-several-lines",
        NET + 'password_file = "p"\n',
        "{f}: password_file: {d}/p must hold one line (the password), it holds several",
        files={"p": SECRET + "\nsecond line\n"},
    ),
    Case(
        "secret-path-variable-unset",
        NET + 'sasl_password_file = "${CREDENTIALS_DIRECTORY}/libera.pass"\n',
        "{f}: sasl_password_file: $CREDENTIALS_DIRECTORY is not set",
    ),
    Case(
        "logbot-password-with-several-networks",
        TWO_NETWORKS,
        "LOGBOT_PASSWORD: applies to one network, but {f} describes 2; name a variable for "
        "each with password_env",
        env={"LOGBOT_PASSWORD": SECRET},
    ),
    # --- flags
    Case(
        "flags-without-server",
        None,
        "--server: is required (or give --config FILE)",
        given={"channel": ("#x",)},
    ),
    Case(
        "flags-without-channel",
        None,
        "--channel: at least one channel is required",
        given={"server": "h", "channel": ()},
    ),
    Case(
        "flag-value-checked",
        None,
        '--nick: "bad nick" is not a valid IRC nick (a letter or one of []\\`_^{{|}} first, '
        "then letters, digits, - and those)",
        given={"server": "h", "channel": ("#x",), "nick": "bad nick"},
    ),
    Case(
        "flag-log-level",
        None,
        '--log-level: must be one of debug, info, warn, error, got "loud"',
        given={"server": "h", "channel": ("#x",), "log_level": "loud"},
    ),
    Case(
        "server-flag-with-several-networks",
        TWO_NETWORKS,
        "--server: applies to one network, but {f} describes 2; set it in the file's "
        "[[network]] tables",
        given={"server": "h"},
    ),
    Case(
        "channel-flag-with-several-networks",
        TWO_NETWORKS,
        "--channel: applies to one network, but {f} describes 2; set it in the file's "
        "[[network]] tables",
        given={"channel": ("#z",)},
    ),
]


def _make_file(path: Path, spec: str) -> None:
    if spec == "cert":
        make_cert(path)
    elif spec == "cert-only":
        make_cert(path, key=False)
    elif spec == "cert-encrypted":
        make_cert(path, encrypted=True)
    elif spec == "cert-mismatch":
        make_cert(path)
        other = path.with_suffix(".other")
        make_cert(other)
        cert = path.read_text().split("-----BEGIN PRIVATE KEY-----")[0]
        key = (
            "-----BEGIN PRIVATE KEY-----"
            + other.read_text().split("-----BEGIN PRIVATE KEY-----")[1]
        )
        path.write_text(cert + key)
    elif spec.startswith("bytes:"):
        path.write_bytes(spec[len("bytes:") :].encode("latin-1"))
    else:
        path.write_text(spec)
    path.chmod(0o600)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_message(case: Case, tmp_path: Path) -> None:
    """The error is exactly the expected one line, with no secret in it."""
    config = tmp_path / "logbot.toml"
    for name, spec in case.files.items():
        _make_file(tmp_path / name, spec)
    if case.toml is not None:
        config.write_text(textwrap.dedent(case.toml))
    config_file = str(config) if case.toml is not None or not case.given else None
    with pytest.raises(ConfigError) as info:
        build_settings(case.given, config_file, case.env)
    message = str(info.value)
    assert message == case.expected.format(f=config, d=tmp_path)
    assert "\n" not in message
    assert SECRET not in message
    assert "hunter2" not in message
    assert "key-9" not in message


@pytest.mark.parametrize(
    "codec", ["hex", "rot13", "base64", "zlib", "idna", "punycode", "undefined"]
)
def test_fallback_encoding_must_be_a_text_encoding(tmp_path: Path, codec: str) -> None:
    """A codec that cannot turn any bytes into text is refused in one line naming the key."""
    config = tmp_path / "logbot.toml"
    config.write_text(f'server = "h"\nchannels = ["#x"]\nfallback_encoding = "{codec}"\n')
    with pytest.raises(ConfigError) as caught:
        build_settings({}, str(config), {})
    assert str(caught.value) == f'{config}: fallback_encoding: "{codec}" is not a text encoding'


@pytest.mark.parametrize("codec", ["latin-1", "cp1252", "koi8-r", "utf-16", "ascii", "UTF-8"])
def test_fallback_encoding_accepts_text_encodings(codec: str) -> None:
    """Real text encodings, including those that replace some bytes, are accepted."""
    settings = build_settings(
        {"server": "h", "channel": ("#x",), "fallback_encoding": codec}, None, {}
    )
    assert settings.networks[0].fallback_encoding == codec


def test_fallback_encoding_flag_that_is_no_text_encoding_exits_2() -> None:
    """--fallback-encoding hex: exit 2 and the click usage error naming the flag."""
    from click.testing import CliRunner

    from logbot.cli import main

    result = CliRunner().invoke(
        main, ["--server", "h", "--channel", "#x", "--fallback-encoding", "hex"]
    )
    assert result.exit_code == 2
    assert (
        result.output.splitlines()[-1] == 'Error: --fallback-encoding: "hex" is not a text encoding'
    )
