"""The settings of a run, as plain values: what to connect to, what to join, where to store.

These types know nothing of TOML, flags, the environment or TLS files: ``logbot/irc/``
and :mod:`logbot.service` import them without the loading machinery of
:mod:`logbot.config`, which builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logbot.setting_keys import (
    DEFAULT_FALLBACK_ENCODING,
    DEFAULT_LOG_LEVEL,
    DEFAULT_NICK,
    DEFAULT_NOLOG_PREFIXES,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_PUBLISH,
    DEFAULT_WEB_TITLE,
)


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
    """One configured channel. The consent keys left None take the network's value
    (:func:`logbot.policy.channel_policy` combines them)."""

    name: str
    key: str | None = field(default=None, repr=False)
    #: said once in the channel after joining (paced; not again within an hour)
    announce: str | None = None
    publish: str | None = None
    retention_days: int | None = None
    nolog_prefixes: tuple[str, ...] | None = None
    #: added to the network's opted-out nicks
    optout_nicks: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkConfig:
    """Everything one connection needs. ``name`` None means: learn it from ISUPPORT.

    ``file`` and ``db`` are the backends this network's events go to: the network's own
    ``file``/``db`` keys, else the shared top-level ones (both None: SQLite at the
    default path). ``logbot.service.backend_routes`` groups networks by backend.
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
    #: send a server password or NickServ IDENTIFY over a connection without TLS
    allow_plaintext_secrets: bool = False
    ping_interval: float = DEFAULT_PING_INTERVAL
    ping_timeout: float = DEFAULT_PING_TIMEOUT
    fallback_encoding: str = DEFAULT_FALLBACK_ENCODING
    file: str | None = None
    #: ``log_dir``: one text file per channel and local day under it
    log_dir: str | None = None
    db: str | None = None
    nolog_prefixes: tuple[str, ...] = DEFAULT_NOLOG_PREFIXES
    optout_nicks: tuple[str, ...] = ()
    retention_days: int | None = None
    publish: str = DEFAULT_PUBLISH


@dataclass(frozen=True)
class WebConfig:
    """The ``[web]`` table: the archive's pages served from the bot's own process, read
    from its database through read-only connections of their own."""

    host: str
    port: int
    #: only these channels are shown (empty: all)
    channels: tuple[str, ...] = ()
    title: str = DEFAULT_WEB_TITLE
    noindex: bool = True


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
    #: the shared ``log_dir`` (see :class:`NetworkConfig`)
    log_dir: str | None = None
    #: gzip a day's file of a ``log_dir`` this many days later (None: never)
    compress_after_days: int | None = None
    config_file: str | None = None
    warnings: tuple[str, ...] = ()
    #: ``HOST:PORT`` where /metrics and /healthz are served; None: not served
    metrics: str | None = None
    #: the [web] table (None: no web pages from this process)
    web: WebConfig | None = None
    #: the top-level ``retention_days`` and ``publish``: for stored channels of a network
    #: no ``[[network]]`` table names (its name came from the server)
    retention_days: int | None = None
    publish: str = DEFAULT_PUBLISH
