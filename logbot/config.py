"""Settings: what to connect to, what to join, where to store.

Precedence: flags > ``LOGBOT_*`` environment > TOML file > defaults. Secrets (server
password, SASL password) come only from the environment or from a file named in the
config, never from argv, and never appear in any log (their ``repr`` is masked).

The TOML file's top-level keys are defaults for every ``[[network]]`` table; a file
without ``[[network]]`` tables describes one network with its top-level keys. Every
error is a :class:`ConfigError` whose ``str()`` is one line: where (the file and the key,
or the flag, or the environment variable) and what is wrong.
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import re
import ssl
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, NoReturn

from twisted.logger import Logger

log = Logger(namespace="logbot.config")

DEFAULT_NICK = "logbot"
DEFAULT_PORT = 6667
DEFAULT_TLS_PORT = 6697
DEFAULT_PING_INTERVAL = 60.0
DEFAULT_PING_TIMEOUT = 120.0
DEFAULT_FALLBACK_ENCODING = "latin-1"
DEFAULT_LOG_LEVEL = "info"

LOG_LEVELS = ("debug", "info", "warn", "error")
SASL_MECHANISMS = ("PLAIN", "EXTERNAL")
#: the channel prefixes of RFC 2811; a name without one is almost surely a typo
CHANNEL_PREFIXES = "#&+!"
#: the environment variables that hold the secrets of a single-network run
PASSWORD_ENV = "LOGBOT_PASSWORD"
SASL_PASSWORD_ENV = "LOGBOT_SASL_PASSWORD"


class Secret(str):
    """A string that never shows itself in ``repr``/``str`` formatting of settings.

    ``source`` says where it came from ("file /etc/logbot/libera.pass", "environment
    variable LOGBOT_PASSWORD"), so a description can name the origin, never the value.
    """

    source: str

    def __new__(cls, value: str, source: str = "") -> Secret:
        self = super().__new__(cls, value)
        self.source = source
        return self

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NetworkConfig:
    """Everything one connection needs. ``name`` None means: learn it from ISUPPORT.

    ``file`` and ``db`` are the backends this network's events go to: the network's own
    ``file``/``db`` keys, else the shared top-level ones (both None: SQLite at the
    default path). :func:`backend_routes` groups networks by backend.
    """

    server: str
    channels: tuple[ChannelConfig, ...]
    name: str | None = None
    port: int = DEFAULT_PORT
    tls: bool = False
    tls_verify: bool = True
    tls_ca: str | None = None
    #: one PEM file holding the client certificate and its (unencrypted) private key
    client_cert: str | None = None
    nick: str = DEFAULT_NICK
    username: str | None = None
    realname: str | None = None
    password: Secret | None = None
    sasl_mechanism: str | None = None
    sasl_user: str | None = None
    sasl_password: Secret | None = None
    sasl_required: bool = False
    ping_interval: float = DEFAULT_PING_INTERVAL
    ping_timeout: float = DEFAULT_PING_TIMEOUT
    fallback_encoding: str = DEFAULT_FALLBACK_ENCODING
    file: str | None = None
    db: str | None = None


@dataclass(frozen=True)
class Settings:
    """A whole run: the networks and the backends every event goes to.

    ``file``/``db`` are the shared (top-level or flag) backends; a network may name its
    own (see :class:`NetworkConfig`). ``warnings`` are problems that do not stop a run
    (a secret file others can read); they are also logged when the settings are built.
    """

    networks: tuple[NetworkConfig, ...]
    file: str | None = None
    db: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL
    #: permissions of new log files (``file_mode``); None: the backends' default, 0600
    file_mode: int | None = None
    config_file: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendRoute:
    """One backend and the networks whose events go to it."""

    #: the ``logbot.backends`` entry-point name: "file" or "sql"
    kind: str
    #: the path or URL; None for "sql" means SQLite at the default per-user path
    target: str | None
    #: indexes into ``Settings.networks``
    networks: tuple[int, ...]
    #: more than one channel goes to this backend (the text log then names the channel)
    multi_channel: bool


class ConfigError(ValueError):
    """A setting is wrong; ``str()`` is one line naming where and what."""


# --- value checkers -----------------------------------------------------------------------
# Each takes the raw value and the label of where it came from, and returns the normalized
# value or raises ConfigError. Messages echo a bad value only for keys that hold no secret.


def _fail(where: str, problem: str) -> NoReturn:
    raise ConfigError(f"{where}: {problem}")


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return type(value).__name__


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    return ""


def _got(value: object) -> str:
    """``a string "6697"``, ``an integer 1``, ``an array``: what a wrong value was."""
    return f"{_toml_type(value)} {_show(value)}".rstrip()


def _want(kind: str, value: object, where: str) -> NoReturn:
    _fail(where, f"must be {kind}, got {_got(value)}")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        _want("a string", value, where)
    if not value.strip():
        _fail(where, "must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        _fail(where, "must not contain control characters")
    return value


def _word(value: object, where: str) -> str:
    text = _text(value, where)
    if any(c.isspace() for c in text):
        _fail(where, f"must not contain spaces, got {_show(text)}")
    return text


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        _want("true or false", value, where)
    return value


def _port(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _want("an integer from 1 to 65535", value, where)
    if not 1 <= value <= 65535:
        _fail(where, f"must be an integer from 1 to 65535, got {value}")
    return value


def _seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _want("a number of seconds", value, where)
    if not value >= 1:
        _fail(where, f"must be at least 1 second, got {value!r}")
    return float(value)


_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")


def _nick(value: object, where: str) -> str:
    nick = _text(value, where)
    if not _NICK.match(nick):
        _fail(
            where,
            f"{_show(nick)} is not a valid IRC nick (a letter or one of []\\`_^{{|}} first, "
            "then letters, digits, - and those)",
        )
    return nick


def _username(value: object, where: str) -> str:
    user = _word(value, where)
    if "@" in user:
        _fail(where, f"must not contain @, got {_show(user)}")
    return user


def _encoding(value: object, where: str) -> str:
    name = _word(value, where)
    try:
        codecs.lookup(name)
    except LookupError:
        _fail(where, f"unknown encoding {_show(name)}")
    return name


def _log_level(value: object, where: str) -> str:
    level = _word(value, where).lower()
    if level not in LOG_LEVELS:
        _fail(where, f"must be one of {', '.join(LOG_LEVELS)}, got {_show(value)}")
    return level


def _file_mode(value: object, where: str) -> int:
    """``file_mode = "0640"``: octal permissions of new log files (read-write for the owner)."""
    text = _word(value, where)
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o666 or mode & 0o600 != 0o600 or mode & 0o111:
        _fail(where, f'must be octal permissions like "0600" or "0640", got {_show(value)}')
    return mode


def _mechanism(value: object, where: str) -> str:
    mech = _word(value, where).upper()
    if mech not in SASL_MECHANISMS:
        _fail(where, f"must be PLAIN or EXTERNAL, got {_show(value)}")
    return mech


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _env_name(value: object, where: str) -> str:
    name = _word(value, where)
    if not _ENV_NAME.match(name):
        _fail(where, f"{_show(name)} is not an environment variable name")
    return name


def _channels(value: object, where: str) -> tuple[ChannelConfig, ...]:
    """``"#chan"`` or ``"#chan key"`` entries (a string or an array of them)."""
    entries: Sequence[object]
    if isinstance(value, str):
        entries = [value]
    elif isinstance(value, list | tuple):
        entries = value
    else:
        _want("an array of channel names", value, where)
    if not entries:
        _fail(where, "must list at least one channel")
    channels: list[ChannelConfig] = []
    seen: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, str):
            _fail(where, f"each channel must be a string, got {_got(entry)}")
        parts = entry.split()
        if not parts:
            _fail(where, "a channel name is empty")
        name = parts[0]
        # The key is never echoed: it is the channel's password.
        if len(parts) > 2:
            _fail(where, f'{_show(name)}: write a channel as "NAME" or "NAME KEY"')
        if name[0] not in CHANNEL_PREFIXES or "," in name or len(name) < 2:
            _fail(
                where,
                f"{_show(name)} is not a channel name (it starts with #, &, + or ! "
                "and has no comma)",
            )
        if any(ord(c) < 32 for c in entry):
            _fail(where, f"{_show(name)}: must not contain control characters")
        folded = name.lower()
        if folded in seen:
            _fail(where, f"{_show(name)} is listed twice")
        seen[folded] = name
        channels.append(ChannelConfig(name=name, key=parts[1] if len(parts) == 2 else None))
    return tuple(channels)


# --- keys ---------------------------------------------------------------------------------

#: keys a [[network]] table (or the top level, as a default) may hold, with their checkers
_NETWORK_KEYS: dict[str, Callable[[object, str], Any]] = {
    "name": _text,
    "server": _word,
    "port": _port,
    "tls": _bool,
    "tls_verify": _bool,
    "tls_ca": _text,
    "client_cert": _text,
    "nick": _nick,
    "username": _username,
    "realname": _text,
    "channels": _channels,
    "password_env": _env_name,
    "password_file": _text,
    "sasl_mechanism": _mechanism,
    "sasl_user": _word,
    "sasl_password_env": _env_name,
    "sasl_password_file": _text,
    "sasl_required": _bool,
    "ping_interval": _seconds,
    "ping_timeout": _seconds,
    "fallback_encoding": _encoding,
    "file": _text,
    "db": _text,
}
#: keys only the top level may hold ("network": the [[network]] tables, or the name of
#: the one network a file without tables describes)
_TOP_ONLY_KEYS = ("log_level", "network", "file_mode")
_TOP_KEYS = tuple(k for k in _NETWORK_KEYS if k != "name") + _TOP_ONLY_KEYS
#: checkers of the top-only keys that hold a value
_TOP_CHECKERS: dict[str, Callable[[object, str], Any]] = {
    "log_level": _log_level,
    "file_mode": _file_mode,
}
#: every key a config file may use (dashes may stand for underscores; channel = channels)
CONFIG_KEYS: frozenset[str] = frozenset(_NETWORK_KEYS) | frozenset(_TOP_KEYS)
#: values that are file system paths: ${VAR} and ~ are expanded, and a relative path is
#: taken relative to the config file's directory
_PATH_KEYS = frozenset({"tls_ca", "client_cert", "password_file", "sasl_password_file", "file"})
#: run options that describe one network; with several networks they have no meaning
_SINGLE_NETWORK_OPTIONS = ("server", "port", "network", "channel")
#: run option name -> config key
_OPTION_KEYS = {
    "server": "server",
    "port": "port",
    "tls": "tls",
    "tls_verify": "tls_verify",
    "nick": "nick",
    "channel": "channels",
    "file": "file",
    "db": "db",
    "network": "name",
    "ping_interval": "ping_interval",
    "ping_timeout": "ping_timeout",
    "fallback_encoding": "fallback_encoding",
    "log_level": "log_level",
}


def _unknown_key(where: str, key: str, known: Sequence[str]) -> NoReturn:
    if key in ("password", "sasl_password"):
        _fail(
            where,
            f"secrets are never read from the config file: use {key}_env (an environment "
            f"variable) or {key}_file (a file only logbot can read)",
        )
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    _fail(where, f"unknown key{hint}")


# --- layers -------------------------------------------------------------------------------


@dataclass
class _Layer:
    """Values from one source, each with the label an error message names.

    ``in_file``: the values come from the config file, so paths in them expand ``${VAR}``
    and ``~`` and are relative to the file's directory (a flag's path is the shell's).
    """

    values: dict[str, Any]
    labels: dict[str, str]
    in_file: bool = False


def _table_layer(
    table: Mapping[str, Any], known: Sequence[str], label: Callable[[str], str]
) -> _Layer:
    """Normalize one TOML table: dashed keys as underscores, ``channel`` as ``channels``."""
    layer = _Layer({}, {}, in_file=True)
    spelled: dict[str, str] = {}
    for raw, value in table.items():
        key = raw.replace("-", "_")
        if key == "channel":
            key = "channels"
        if key not in known:
            if key in _TOP_CHECKERS:
                _fail(label(raw), "only allowed at the top level (it is one for the process)")
            if key == "network" and "name" in known:
                _fail(label(raw), "unknown key (a network's name is its name key)")
            if key == "name" and "network" in known:
                _fail(
                    label(raw),
                    'unknown key at the top level (network = "NAME" names the one network '
                    "of a file without [[network]] tables)",
                )
            _unknown_key(label(raw), raw, known)
        if key in spelled:
            _fail(label(raw), f"given twice (as {spelled[key]} and as {raw})")
        spelled[key] = raw
        layer.values[key] = value
        layer.labels[key] = label(raw)
    return layer


def _given_layer(given: Mapping[str, Any]) -> _Layer:
    layer = _Layer({}, {})
    for option, value in given.items():
        if option == "config" or value is None:
            continue
        if option not in _OPTION_KEYS:
            raise ValueError(f"build_settings: unknown run option {option!r}")
        if option == "channel" and not value:
            continue
        key = _OPTION_KEYS[option]
        layer.values[key] = value
        layer.labels[key] = "--" + option.replace("_", "-")
    return layer


@dataclass(frozen=True)
class _Found:
    value: Any
    where: str
    in_file: bool


def _lookup(layers: Sequence[_Layer], key: str) -> _Found | None:
    for layer in layers:
        if key in layer.values:
            return _Found(layer.values[key], layer.labels[key], layer.in_file)
    return None


# --- files and secrets --------------------------------------------------------------------

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand_path(path: str, where: str, base: str | None, environ: Mapping[str, str]) -> str:
    """``${VAR}`` (systemd's ``$CREDENTIALS_DIRECTORY``...) and ``~``; relative to ``base``."""

    def var(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        value = environ.get(name)
        if not value:
            _fail(where, f"${name} is not set")
        return value

    expanded = os.path.expanduser(_VAR.sub(var, path))
    if base is not None and not os.path.isabs(expanded):
        expanded = os.path.join(base, expanded)
    return expanded


def _is_url(value: str) -> bool:
    return "://" in value


def _check_db_url(url: str, where: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError):
        # The URL may hold a password: name the problem, not the value.
        _fail(where, "is not a valid database URL (dialect+driver://user@host/database)")


def _mode_warning(path: str, where: str, what: str) -> str | None:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o044:
        return None
    who = " and ".join(w for w, bit in (("its group", 0o040), ("every user", 0o004)) if mode & bit)
    return f"{where}: {what} {path} is readable by {who} (mode {mode:04o}); chmod 600 it"


def _read_secret_file(path: str, where: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        _fail(where, f"cannot read {path}: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _fail(where, f"{path} is not UTF-8 text")
    # A trailing newline is how editors save a one-line file; it is not part of the secret.
    text = text.rstrip("\r\n")
    if not text:
        _fail(where, f"{path} is empty")
    if "\n" in text or "\r" in text:
        _fail(where, f"{path} must hold one line (the password), it holds several")
    return text


class _EncryptedKey(Exception):
    pass


def _refuse_passphrase() -> bytes:
    # Called by OpenSSL only for an encrypted key; a service has no one to type it.
    raise _EncryptedKey


def _check_client_cert(path: str, where: str) -> None:
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as exc:
        _fail(where, f"cannot read {path}: {exc.strerror or exc}")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        _fail(where, f"{path} holds no PEM certificate")
    if b"PRIVATE KEY-----" not in pem:
        _fail(
            where, f"{path} holds no private key (put it in the same PEM file as the certificate)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(path, password=_refuse_passphrase)
    except _EncryptedKey:
        _fail(where, f"the private key in {path} is encrypted; logbot needs it unencrypted")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            _fail(where, f"the private key in {path} does not belong to its certificate")
        _fail(where, f"{path} is not a usable PEM certificate and private key")
    except OSError as exc:
        _fail(where, f"cannot read {path}: {exc.strerror or exc}")


def _check_ca(path: str, where: str) -> None:
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        _fail(where, f"{path} holds no PEM CA certificate")
    except OSError as exc:
        _fail(where, f"cannot read {path}: {exc.strerror or exc}")


# --- building -----------------------------------------------------------------------------


class _Builder:
    def __init__(self, config_file: str | None, environ: Mapping[str, str]) -> None:
        self.config_file = config_file
        self.environ = environ
        self.base = os.path.dirname(os.path.abspath(config_file)) if config_file else None
        self.warnings: list[str] = []

    def load(self) -> dict[str, Any]:
        assert self.config_file is not None
        name = self.config_file
        try:
            with open(name, "rb") as f:
                return tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            _fail(name, f"not valid TOML: {exc}")
        except OSError as exc:
            _fail(name, f"cannot read: {exc.strerror or exc}")

    def build(self, given: Mapping[str, Any]) -> Settings:
        flags = _given_layer(given)
        top = _Layer({}, {}, in_file=True)
        tables: list[dict[str, Any]] | None = None
        name = self.config_file
        if name is not None:
            document = self.load()
            top = _table_layer(document, _TOP_KEYS, lambda k: f"{name}: {k}")
            network = top.values.pop("network", None)
            network_label = top.labels.pop("network", f"{name}: network")
            if isinstance(network, list):
                tables = self.tables(network, network_label)
            elif network is not None:
                if isinstance(network, dict):
                    _fail(
                        network_label,
                        "write [[network]] (an array of tables) for each network, "
                        'or network = "NAME" to name the one network of this file',
                    )
                top.values["name"] = _text(network, network_label)
                top.labels["name"] = network_label
            # A default every network overrides is still checked, so a typo in it is not
            # silently kept for the day a network stops overriding it.
            for key, value in top.values.items():
                checker = _TOP_CHECKERS.get(key) or _NETWORK_KEYS[key]
                checker(value, top.labels[key])

        count = len(tables) if tables is not None else 1
        if count > 1:
            for option in _SINGLE_NETWORK_OPTIONS:
                key = _OPTION_KEYS[option]
                if key in flags.values:
                    _fail(
                        flags.labels[key],
                        f"applies to one network, but {name} describes {count}; "
                        "set it in the file's [[network]] tables",
                    )

        log_level = DEFAULT_LOG_LEVEL
        found = _lookup([flags, top], "log_level")
        if found is not None:
            log_level = _log_level(found.value, found.where)

        file_mode = None
        found = _lookup([top], "file_mode")
        if found is not None:
            file_mode = _file_mode(found.value, found.where)

        shared_file = self.file_value(_lookup([flags, top], "file"))
        shared_db = self.db_value(_lookup([flags, top], "db"))
        networks = []
        if tables is None:
            networks.append(self.network([flags, top], None, count))
        else:
            for index, table in enumerate(tables, start=1):
                prefix = f"{name}: network #{index}: "
                own = _table_layer(table, tuple(_NETWORK_KEYS), prefix.__add__)
                inherited = _Layer(
                    dict(top.values),
                    {
                        k: f"{where} (default for network #{index})"
                        for k, where in top.labels.items()
                    },
                    in_file=True,
                )
                networks.append(self.network([flags, own, inherited], index, count))
        self.check_names(networks)
        for warning in self.warnings:
            log.warn("{warning}", warning=warning)
        return Settings(
            networks=tuple(networks),
            file=shared_file,
            db=shared_db,
            log_level=log_level,
            file_mode=file_mode,
            config_file=self.config_file,
            warnings=tuple(self.warnings),
        )

    def tables(self, value: list[Any], label: str) -> list[dict[str, Any]]:
        if not value:
            _fail(label, "no networks: add a [[network]] table for each")
        for item in value:
            if not isinstance(item, dict):
                _fail(label, f"must be [[network]] tables, got {_toml_type(item)}")
        return value

    def path(self, value: str, found: _Found) -> str:
        if not found.in_file:
            return value
        return _expand_path(value, found.where, self.base, self.environ)

    def file_value(self, found: _Found | None) -> str | None:
        if found is None:
            return None
        return self.path(_text(found.value, found.where), found)

    def db_value(self, found: _Found | None) -> str | None:
        if found is None:
            return None
        db = _text(found.value, found.where)
        if _is_url(db):
            _check_db_url(db, found.where)
            return db
        return self.path(db, found)

    def network(self, layers: list[_Layer], index: int | None, count: int) -> NetworkConfig:
        def get(key: str) -> _Found | None:
            found = _lookup(layers, key)
            if found is None:
                return None
            checked = _NETWORK_KEYS[key](found.value, found.where)
            if key in _PATH_KEYS:
                checked = self.path(checked, found)
            return _Found(checked, found.where, found.in_file)

        def value(key: str, default: Any = None) -> Any:
            found = get(key)
            return default if found is None else found.value

        here = (
            f"{self.config_file}: " if index is None else f"{self.config_file}: network #{index}: "
        )
        server = get("server")
        if server is None:
            if self.config_file is None:
                _fail("--server", "is required (or give --config FILE)")
            _fail(
                here + "server",
                "missing: set server"
                + (" (or give --server)" if index is None else " in every [[network]] table"),
            )
        channels = get("channels")
        if channels is None:
            if self.config_file is None:
                _fail("--channel", "at least one channel is required")
            _fail(here + "channels", 'missing: list at least one channel, e.g. channels = ["#x"]')

        tls = value("tls", False)
        tls_ca = get("tls_ca")
        if tls_ca is not None:
            _check_ca(tls_ca.value, tls_ca.where)
        client_cert = get("client_cert")
        if client_cert is not None:
            if not tls:
                _fail(client_cert.where, "a client certificate needs tls = true")
            _check_client_cert(client_cert.value, client_cert.where)
            self.warn_mode(client_cert.value, client_cert.where, "client certificate key")
        nick = value("nick", DEFAULT_NICK)

        password = self.secret(layers, "password", PASSWORD_ENV, count)
        sasl_password = self.secret(layers, "sasl_password", SASL_PASSWORD_ENV, count)
        mechanism = get("sasl_mechanism")
        sasl_user = value("sasl_user")
        if mechanism is None and sasl_password is not None:
            mechanism = _Found("PLAIN", "", False)
        if mechanism is not None and mechanism.value == "PLAIN":
            if sasl_password is None:
                _fail(
                    mechanism.where,
                    "PLAIN needs a SASL password: set sasl_password_env or sasl_password_file"
                    + (f" (or {SASL_PASSWORD_ENV})" if count == 1 else ""),
                )
            if sasl_user is None:
                sasl_user = nick
        if mechanism is not None and mechanism.value == "EXTERNAL":
            if client_cert is None:
                _fail(mechanism.where, "EXTERNAL needs client_cert (a PEM certificate and key)")
            if sasl_password is not None:
                _fail(
                    mechanism.where,
                    "EXTERNAL authenticates with the client certificate; remove the SASL password",
                )
        sasl_required = get("sasl_required")
        if sasl_required is not None and sasl_required.value and mechanism is None:
            _fail(sasl_required.where, "needs sasl_mechanism (PLAIN with a password, or EXTERNAL)")

        return NetworkConfig(
            server=server.value,
            channels=channels.value,
            name=value("name"),
            port=value("port", DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
            tls=tls,
            tls_verify=value("tls_verify", True),
            tls_ca=None if tls_ca is None else tls_ca.value,
            client_cert=None if client_cert is None else client_cert.value,
            nick=nick,
            username=value("username"),
            realname=value("realname"),
            password=password,
            sasl_mechanism=None if mechanism is None else mechanism.value,
            sasl_user=sasl_user,
            sasl_password=sasl_password,
            sasl_required=value("sasl_required", False),
            ping_interval=value("ping_interval", DEFAULT_PING_INTERVAL),
            ping_timeout=value("ping_timeout", DEFAULT_PING_TIMEOUT),
            fallback_encoding=value("fallback_encoding", DEFAULT_FALLBACK_ENCODING),
            file=self.file_value(_lookup(layers, "file")),
            db=self.db_value(_lookup(layers, "db")),
        )

    def secret(
        self, layers: Sequence[_Layer], key: str, env_default: str, count: int
    ) -> Secret | None:
        from_environ = self.environ.get(env_default)
        if from_environ:
            if count > 1:
                _fail(
                    env_default,
                    f"applies to one network, but {self.config_file} describes {count}; "
                    f"name a variable for each with {key}_env",
                )
            return Secret(from_environ, f"environment variable {env_default}")
        # A network's own source (either kind) replaces the top-level default as a whole.
        for layer in layers:
            env_key, file_key = f"{key}_env", f"{key}_file"
            if env_key in layer.values and file_key in layer.values:
                _fail(layer.labels[file_key], f"set {env_key} or {file_key}, not both")
            if env_key in layer.values:
                where = layer.labels[env_key]
                var = _env_name(layer.values[env_key], where)
                text = self.environ.get(var)
                if text is None:
                    _fail(where, f"environment variable {var} is not set")
                if not text:
                    _fail(where, f"environment variable {var} is empty")
                return Secret(text, f"environment variable {var}")
            if file_key in layer.values:
                found = _Found(layer.values[file_key], layer.labels[file_key], layer.in_file)
                path = self.path(_text(found.value, found.where), found)
                text = _read_secret_file(path, found.where)
                self.warn_mode(path, found.where, "secret file")
                return Secret(text, f"file {path}")
        return None

    def warn_mode(self, path: str, where: str, what: str) -> None:
        warning = _mode_warning(path, where, what)
        if warning is not None and warning not in self.warnings:
            self.warnings.append(warning)

    def check_names(self, networks: Sequence[NetworkConfig]) -> None:
        seen: dict[str, int] = {}
        for index, network in enumerate(networks, start=1):
            if network.name is None:
                continue
            folded = network.name.lower()
            if folded in seen:
                _fail(
                    f"{self.config_file}: network #{index}: name",
                    f"{_show(network.name)} is already the name of network #{seen[folded]}",
                )
            seen[folded] = index


def build_settings(
    given: Mapping[str, Any], config_file: str | None, environ: Mapping[str, str]
) -> Settings:
    """Settings from explicitly given options (flags or env) over the config file over defaults.

    ``given`` holds only the run options the user set (on the command line or as
    ``LOGBOT_<OPTION>``), keyed by option name; ``environ`` is where secrets named by
    ``*_env`` keys, ``LOGBOT_PASSWORD``/``LOGBOT_SASL_PASSWORD`` and ``${VAR}`` in paths
    are looked up. Raises :class:`ConfigError` (one line) for anything wrong.
    """
    return _Builder(config_file, environ).build(given)


def backend_routes(settings: Settings) -> tuple[BackendRoute, ...]:
    """The backends a run needs, each with the networks whose events it receives.

    A network writes to its ``file`` and its ``db``; with neither, to SQLite at the
    default path (``target`` None). Networks naming the same target share one backend.
    """
    order: list[tuple[str, str | None]] = []
    members: dict[tuple[str, str | None], list[int]] = {}
    for index, network in enumerate(settings.networks):
        wanted: list[tuple[str, str | None]] = []
        if network.file is not None:
            wanted.append(("file", network.file))
        if network.db is not None:
            wanted.append(("sql", network.db))
        if not wanted:
            wanted.append(("sql", None))
        for route in wanted:
            if route not in members:
                order.append(route)
                members[route] = []
            members[route].append(index)
    return tuple(
        BackendRoute(
            kind=kind,
            target=target,
            networks=tuple(members[(kind, target)]),
            multi_channel=sum(len(settings.networks[i].channels) for i in members[(kind, target)])
            > 1,
        )
        for kind, target in order
    )


# --- describing ---------------------------------------------------------------------------


def _masked_db(db: str) -> str:
    if not _is_url(db):
        return f"SQLite {db}"
    from logbot.storage.masking import mask_target

    return mask_target(db)


def _backend_text(file: str | None, db: str | None) -> str:
    parts = []
    if file is not None:
        parts.append(f"text file {file}")
    if db is not None:
        parts.append(f"database {_masked_db(db)}")
    return ", ".join(parts) or "SQLite at the default per-user path"


def _secret_text(secret: Secret | None) -> str:
    if secret is None:
        return "none"
    return f"from {secret.source}" if secret.source else "set"


def describe(settings: Settings) -> str:
    """What a run with these settings does, for ``logbot config check``; secrets masked."""
    lines = []
    if settings.config_file is not None:
        lines.append(f"config file: {settings.config_file}")
    count = len(settings.networks)
    lines.append(f"{count} network{'s' if count != 1 else ''}, log level {settings.log_level}")
    for network in settings.networks:
        lines.append("")
        title = network.name if network.name is not None else "(name from the server)"
        lines.append(f"network {title}")
        if network.tls:
            if not network.tls_verify:
                tls = "TLS, certificate NOT verified"
            elif network.tls_ca is not None:
                tls = f"TLS, certificate verified against {network.tls_ca}"
            else:
                tls = "TLS, certificate verified against the system CA store"
        else:
            tls = "plain text (no TLS)"
        lines.append(f"  server: {network.server} port {network.port}, {tls}")
        if network.client_cert is not None:
            lines.append(f"  client certificate: {network.client_cert}")
        who = [f"username {network.username}"] if network.username else []
        if network.realname:
            who.append(f"realname {_show(network.realname)}")
        lines.append(f"  nick: {network.nick}" + (f" ({', '.join(who)})" if who else ""))
        names = [c.name + (" (key set)" if c.key else "") for c in network.channels]
        lines.append(f"  channels: {', '.join(names)}")
        lines.append(f"  server password: {_secret_text(network.password)}")
        if network.sasl_mechanism is None:
            lines.append("  sasl: none")
        else:
            sasl = f"  sasl: {network.sasl_mechanism}"
            if network.sasl_user is not None:
                sasl += f" as {network.sasl_user}"
            sasl += (
                ", required (never joins unauthenticated)"
                if network.sasl_required
                else ", optional (joins anyway if it fails)"
            )
            lines.append(sasl)
            if network.sasl_mechanism == "PLAIN":
                lines.append(f"  sasl password: {_secret_text(network.sasl_password)}")
        lines.append(
            f"  keepalive: PING every {network.ping_interval:g}s, "
            f"reconnect after {network.ping_timeout:g}s without an answer"
        )
        lines.append(f"  bytes that are not UTF-8 decoded as: {network.fallback_encoding}")
        lines.append(f"  events to: {_backend_text(network.file, network.db)}")
    for warning in settings.warnings:
        lines.append("")
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
