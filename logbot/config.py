"""Building settings: the TOML file, ``LOGBOT_*`` environment and flags, checked and merged.

What each key is (checker, default, scope, flag, help) is one entry of the table in
:mod:`logbot.setting_keys`; the values built here are the plain types of
:mod:`logbot.settings`.

Precedence: flags > ``LOGBOT_*`` environment > TOML file > defaults. Secrets (server
password, SASL password) come only from the environment or from a file named in the
config, never from argv, and never appear in any log (their ``repr`` is masked).

The TOML file's top-level keys are defaults for every ``[[network]]`` table; a file
without ``[[network]]`` tables describes one network with its top-level keys. Every
error is a :class:`ConfigError` whose ``str()`` is one line: where (the file and the key,
or the flag, or the environment variable) and what is wrong.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from twisted.logger import Logger

from logbot.config_files import (
    check_ca,
    check_client_cert,
    check_db_url,
    expand_path,
    mode_warning,
    read_secret_file,
)
from logbot.setting_keys import (
    _BY_NAME,
    _NETWORK_KEYS,
    _TOP_KEYS,
    CONFIG_KEYS,
    DEFAULT_FALLBACK_ENCODING,
    DEFAULT_LOG_LEVEL,
    DEFAULT_NICK,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_TLS_PORT,
    ENV_PREFIX,
    KEYS,
    PASSWORD_ENV,
    RUN_OPTION_KEYS,
    SASL_PASSWORD_ENV,
    WEB_KEYS,
    ConfigError,
    Key,
    _env_name,
    _fail,
    _log_level,
    _show,
    _text,
    _toml_type,
)
from logbot.settings import ChannelConfig, NetworkConfig, Secret, Settings, WebConfig
from logbot.storage.names import is_url

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_FALLBACK_ENCODING",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_NICK",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_PORT",
    "DEFAULT_TLS_PORT",
    "ENV_PREFIX",
    "KEYS",
    "RUN_OPTION_KEYS",
    "ChannelConfig",
    "ConfigError",
    "Key",
    "NetworkConfig",
    "Secret",
    "Settings",
    "WebConfig",
    "build_settings",
]

log = Logger(namespace="logbot.config")


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


def _tables(*values: Any) -> bool:
    """One of the values is an array of channel tables (``[[network.channel]]``)."""
    return any(isinstance(v, list) and any(isinstance(i, dict) for i in v) for v in values)


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
            if key in _BY_NAME and _BY_NAME[key].scope == "channel":
                _fail(label(raw), "only allowed in a channel table ([[network.channel]])")
            if key == "network" and "name" in known:
                _fail(label(raw), "unknown key (a network's name is its name key)")
            if key in _BY_NAME and _BY_NAME[key].scope == "top":
                _fail(label(raw), "only allowed at the top level (it is one for the process)")
            if key == "name" and "network" in known:
                _fail(
                    label(raw),
                    'unknown key at the top level (network = "NAME" names the one network '
                    "of a file without [[network]] tables)",
                )
            _unknown_key(label(raw), raw, known)
        if (
            key == "channels"
            and key in spelled
            and spelled[key] != raw
            and _tables(value, layer.values[key])
        ):
            # channels = ["#a"] beside [[network.channel]] tables: one list of channels
            before = layer.values[key]
            both = [before] if isinstance(before, str) else list(before)
            both.extend([value] if isinstance(value, str | dict) else value)
            layer.values[key] = both
            continue
        if key in spelled:
            _fail(label(raw), f"given twice (as {spelled[key]} and as {raw})")
        spelled[key] = raw
        layer.values[key] = value
        layer.labels[key] = label(raw)
    return layer


def _given_layer(given: Mapping[str, Any], from_env: Collection[str]) -> _Layer:
    layer = _Layer({}, {})
    for option, value in given.items():
        if option == "config" or value is None:
            continue
        if option not in RUN_OPTION_KEYS:
            raise ValueError(f"build_settings: unknown run option {option!r}")
        key = RUN_OPTION_KEYS[option]
        if key.multiple and not value:
            continue
        layer.values[key.name] = value
        layer.labels[key.name] = (key.env if option in from_env else None) or key.option
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

    def build(self, given: Mapping[str, Any], from_env: Collection[str] = ()) -> Settings:
        flags = _given_layer(given, from_env)
        top = _Layer({}, {}, in_file=True)
        tables: list[dict[str, Any]] | None = None
        web: WebConfig | None = None
        name = self.config_file
        if name is not None:
            document = self.load()
            top = _table_layer(document, _TOP_KEYS, lambda k: f"{name}: {k}")
            if "web" in top.values:
                web = self.web(top.values.pop("web"), top.labels.pop("web"))
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
                _BY_NAME[key].check(value, top.labels[key])

        count = len(tables) if tables is not None else 1
        if count > 1:
            for key in (k.name for k in RUN_OPTION_KEYS.values() if k.one_network):
                if key in flags.values:
                    _fail(
                        flags.labels[key],
                        f"applies to one network, but {name} describes {count}; "
                        "set it in the file's [[network]] tables",
                    )

        log_level = _BY_NAME["log_level"].default
        found = _lookup([flags, top], "log_level")
        if found is not None:
            log_level = _log_level(found.value, found.where)

        file_mode = None
        found = _lookup([top], "file_mode")
        if found is not None:
            file_mode = _BY_NAME["file_mode"].check(found.value, found.where)
        compress_after_days = None
        found = _lookup([top], "compress_after_days")
        if found is not None:
            compress_after_days = _BY_NAME["compress_after_days"].check(found.value, found.where)
        metrics = None
        found = _lookup([flags, top], "metrics")
        if found is not None:
            metrics = _BY_NAME["metrics"].check(found.value, found.where)

        shared_file = self.file_value(_lookup([flags, top], "file"))
        shared_db = self.db_value(_lookup([flags, top], "db"))
        shared_log_dir = self.file_value(_lookup([flags, top], "log_dir"))
        networks = []
        if tables is None:
            networks.append(self.network([flags, top], None, count))
        else:
            for index, table in enumerate(tables, start=1):
                prefix = f"{name}: network #{index}: "
                own = _table_layer(table, _NETWORK_KEYS, prefix.__add__)
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
        if web is not None and shared_db is None and any(n.db is not None for n in networks):
            # the pages read one database: the top-level one (else the default SQLite file,
            # which no network here writes)
            _fail(
                f"{name}: web",
                "shows the top-level db, but the networks name their own: set db at the top level",
            )
        top_retention = _lookup([top], "retention_days")
        top_publish = _lookup([top], "publish")
        check_days, check_publish = _BY_NAME["retention_days"].check, _BY_NAME["publish"].check
        settings = Settings(
            networks=tuple(networks),
            file=shared_file,
            db=shared_db,
            log_level=log_level,
            file_mode=file_mode,
            log_dir=shared_log_dir,
            compress_after_days=compress_after_days,
            config_file=self.config_file,
            warnings=tuple(self.warnings),
            metrics=metrics,
            web=web,
            retention_days=None
            if top_retention is None
            else check_days(top_retention.value, top_retention.where),
            publish=_BY_NAME["publish"].default
            if top_publish is None
            else check_publish(top_publish.value, top_publish.where),
        )
        for warning in self.warnings:
            log.warn("{warning}", warning=warning)
        return replace(settings, warnings=tuple(self.warnings))

    def web(self, value: object, label: str) -> WebConfig:
        """The [web] table, each key checked by its entry in the key table."""
        if not isinstance(value, dict):
            _fail(label, f"must be a [web] table, got {_toml_type(value)}")
        layer = _table_layer(value, tuple(WEB_KEYS), f"{label}.".__add__)
        if layer.values.get("channels") == []:
            # an empty list means what no list means: every channel
            del layer.values["channels"]
        checked = {
            key: WEB_KEYS[key].check(raw, layer.labels[key]) for key, raw in layer.values.items()
        }
        if "listen" not in checked:
            _fail(label, 'needs listen = "HOST:PORT" (where to serve the pages)')
        host, port = checked.pop("listen")
        values = {k.name: k.default for k in WEB_KEYS.values() if k.name != "listen"}
        values.update(checked)
        return WebConfig(host=host, port=port, **values)

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
        return expand_path(value, found.where, self.base, self.environ)

    def file_value(self, found: _Found | None) -> str | None:
        if found is None:
            return None
        return self.path(_text(found.value, found.where), found)

    def db_value(self, found: _Found | None) -> str | None:
        if found is None:
            return None
        db = _text(found.value, found.where)
        if is_url(db):
            check_db_url(db, found.where)
            return db
        return self.path(db, found)

    def network(self, layers: list[_Layer], index: int | None, count: int) -> NetworkConfig:
        def get(key: str) -> _Found | None:
            found = _lookup(layers, key)
            if found is None:
                return None
            checked = _BY_NAME[key].check(found.value, found.where)
            if _BY_NAME[key].path:
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

        tls = value("tls", _BY_NAME["tls"].default)
        tls_ca = get("tls_ca")
        if tls_ca is not None:
            check_ca(tls_ca.value, tls_ca.where)
        client_cert = get("client_cert")
        if client_cert is not None:
            if not tls:
                _fail(client_cert.where, "a client certificate needs tls = true")
            check_client_cert(client_cert.value, client_cert.where)
            self.warn_mode(client_cert.value, client_cert.where, "client certificate key")
        nick = value("nick", _BY_NAME["nick"].default)

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

        # Keys the table marks plain go to the NetworkConfig field of their name as they are.
        plain = {k.name: value(k.name, k.default) for k in KEYS if k.scope == "network" and k.plain}
        # Opting out is additive: a network's list never lets the top level's be logged.
        optout: list[str] = []
        for layer in layers:
            if "optout_nicks" in layer.values:
                check = _BY_NAME["optout_nicks"].check
                nicks = check(layer.values["optout_nicks"], layer.labels["optout_nicks"])
                optout.extend(n for n in nicks if n not in optout)
        plain["optout_nicks"] = tuple(optout)
        return NetworkConfig(
            **plain,
            channels=channels.value,
            port=value("port", DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
            password=password,
            sasl_mechanism=None if mechanism is None else mechanism.value,
            sasl_user=sasl_user,
            sasl_password=sasl_password,
            file=self.file_value(_lookup(layers, "file")),
            log_dir=self.file_value(_lookup(layers, "log_dir")),
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
                text = read_secret_file(path, found.where)
                self.warn_mode(path, found.where, "secret file")
                return Secret(text, f"file {path}")
        return None

    def warn_mode(self, path: str, where: str, what: str) -> None:
        warning = mode_warning(path, where, what)
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
    given: Mapping[str, Any],
    config_file: str | None,
    environ: Mapping[str, str],
    from_env: Collection[str] = (),
) -> Settings:
    """Settings from explicitly given options (flags or env) over the config file over defaults.

    ``given`` holds only the run options the user set (on the command line or as
    ``LOGBOT_<OPTION>``), keyed by option name; ``environ`` is where secrets named by
    ``*_env`` keys, ``LOGBOT_PASSWORD``/``LOGBOT_SASL_PASSWORD`` and ``${VAR}`` in paths
    are looked up; ``from_env`` names the options of ``given`` that came from their
    ``LOGBOT_*`` variable (an error then names the variable, not the flag). Raises
    :class:`ConfigError` (one line) for anything wrong.
    """
    return _Builder(config_file, environ).build(given, from_env)
