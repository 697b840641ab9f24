"""Settings: what to connect to, what to join, where to store.

Precedence: flags > ``LOGBOT_*`` environment > TOML file > defaults. Secrets (server
password, SASL password) come only from the environment or from a file named in the
config, never from argv, and never appear in any log (their ``repr`` is masked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_NICK = "logbot"
DEFAULT_PORT = 6667
DEFAULT_TLS_PORT = 6697
DEFAULT_PING_INTERVAL = 60.0
DEFAULT_PING_TIMEOUT = 120.0
DEFAULT_FALLBACK_ENCODING = "latin-1"


class Secret(str):
    """A string that never shows itself in ``repr``/``str`` formatting of settings."""

    __slots__ = ()

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
    """Everything one connection needs. ``name`` None means: learn it from ISUPPORT."""

    server: str
    channels: tuple[ChannelConfig, ...]
    name: str | None = None
    port: int = DEFAULT_PORT
    tls: bool = False
    tls_verify: bool = True
    tls_ca: str | None = None
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


@dataclass(frozen=True)
class Settings:
    """A whole run: the networks and the backends every event goes to."""

    networks: tuple[NetworkConfig, ...]
    file: str | None = None
    db: str | None = None
    log_level: str = "info"


class ConfigError(ValueError):
    """A setting is wrong; ``str()`` is one line naming where and what."""


def build_settings(
    given: Mapping[str, Any], config_file: str | None, environ: Mapping[str, str]
) -> Settings:
    """Settings from explicitly given options (flags or env) over the config file over defaults."""
    if config_file is not None:
        raise ConfigError(f"{config_file}: config files are not supported yet")
    server = given.get("server")
    if not server:
        raise ConfigError("--server is required (or a --config file naming networks)")
    names = tuple(given.get("channel") or ())
    if not names:
        raise ConfigError("at least one --channel is required")
    channels = []
    for spec in names:
        name, _, key = spec.partition(" ")
        channels.append(ChannelConfig(name=name, key=key or None))
    tls = bool(given.get("tls", False))
    network = NetworkConfig(
        server=server,
        channels=tuple(channels),
        name=given.get("network"),
        port=given.get("port") or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
        tls=tls,
        tls_verify=given.get("tls_verify", True),
        nick=given.get("nick", DEFAULT_NICK),
        ping_interval=given.get("ping_interval", DEFAULT_PING_INTERVAL),
        ping_timeout=given.get("ping_timeout", DEFAULT_PING_TIMEOUT),
        fallback_encoding=given.get("fallback_encoding", DEFAULT_FALLBACK_ENCODING),
    )
    return Settings(
        networks=(network,),
        file=given.get("file"),
        db=given.get("db"),
        log_level=given.get("log_level", "info"),
    )
