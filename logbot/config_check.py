"""What ``logbot config check`` prints: a run's settings in words, secrets masked.

Each key of :data:`logbot.setting_keys.KEYS` says how it is shown: a ``label`` gives it a
line of its own (``  LABEL: VALUE``, in the order of the table), a ``line`` names the
combined line below that shows it with others. The combined lines of each part of the
output (the run, each network, the web pages) are declared once here, in order; the
labelled keys of a part go where its :data:`LABELLED` entry stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, NamedTuple

from logbot.setting_keys import KEYS, _show
from logbot.settings import ChannelConfig, NetworkConfig, Secret, Settings, WebConfig
from logbot.storage.names import is_url


class Line(NamedTuple):
    """A combined line: ``show(obj)`` gives its text (none: left out) from the settings of
    its part (:class:`Settings`, a :class:`NetworkConfig` or the :class:`WebConfig`)."""

    name: str
    show: Callable[[Any], Iterable[str]]


def value_text(value: object) -> str:
    """A labelled key's VALUE: none, yes/no, 30 (not 30.0), quoted strings of a list."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(_show(v) for v in value) if value else "none"
    return str(value)


def _secret_text(secret: Secret | None) -> str:
    if secret is None:
        return "none"
    return f"from {secret.source}" if secret.source else "set"


def _masked_db(db: str) -> str:
    if not is_url(db):
        return f"SQLite {db}"
    from logbot.storage.masking import mask_target

    return mask_target(db)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the run ------------------------------------------------------------------------------


def _config_file(settings: Settings) -> Iterable[str]:
    if settings.config_file is not None:
        yield f"config file: {settings.config_file}"


def _networks(settings: Settings) -> Iterable[str]:
    count = len(settings.networks)
    yield f"{count} network{'s' if count != 1 else ''}, log level {settings.log_level}"


def _metrics(settings: Settings) -> Iterable[str]:
    if settings.metrics is not None:
        m = settings.metrics
        yield f"metrics: http://{m}/metrics and http://{m}/healthz"


def _log_files(settings: Settings) -> Iterable[str]:
    from logbot.backends.base import DEFAULT_FILE_MODE

    mode = settings.file_mode if settings.file_mode is not None else DEFAULT_FILE_MODE
    text = f"log files: created {mode:04o}"
    if settings.compress_after_days is not None:
        days = settings.compress_after_days
        text += f", a log_dir day's file gzipped {days} day{'s' if days != 1 else ''} after it"
    yield text


# --- a network ----------------------------------------------------------------------------


def _server(network: NetworkConfig) -> Iterable[str]:
    if not network.tls:
        tls = "plain text (no TLS)"
    elif not network.tls_verify:
        tls = "TLS, certificate NOT verified"
    elif network.tls_ca is not None:
        tls = f"TLS, certificate verified against {network.tls_ca}"
    else:
        tls = "TLS, certificate verified against the system CA store"
    yield f"server: {network.server} port {network.port}, {tls}"


def _client_cert(network: NetworkConfig) -> Iterable[str]:
    if network.client_cert is not None:
        yield f"client certificate: {network.client_cert}"


def _nick(network: NetworkConfig) -> Iterable[str]:
    who = [f"username {network.username}"] if network.username else []
    if network.realname:
        who.append(f"realname {_show(network.realname)}")
    yield f"nick: {network.nick}" + (f" ({', '.join(who)})" if who else "")


#: the keys a channel table may set, each as its part of the channel's line, in order
CHANNEL_PHRASES: dict[str, Callable[[Any], str]] = {
    "announce": lambda text: f"announce {_show(text)}",
    "publish": lambda level: f"web archive {level}",
    "retention_days": lambda days: f"keep events for {days} days",
    "nolog_prefixes": lambda prefixes: f"unlogged lines start with {value_text(prefixes)}",
    "optout_nicks": lambda nicks: f"also opted out {value_text(nicks)}",
}


def _channel_text(channel: ChannelConfig) -> str | None:
    """``#x: announce "...", web archive unlisted``: what a channel table sets, if anything
    (a field left at its default: the network's value applies)."""
    unset = {f.name: f.default for f in fields(ChannelConfig)}
    parts = [
        phrase(getattr(channel, name))
        for name, phrase in CHANNEL_PHRASES.items()
        if getattr(channel, name) != unset[name]
    ]
    return f"{channel.name}: {', '.join(parts)}" if parts else None


def _channels(network: NetworkConfig) -> Iterable[str]:
    names = [c.name + (" (key set)" if c.key else "") for c in network.channels]
    yield f"channels: {', '.join(names)}"
    yield from (t for t in map(_channel_text, network.channels) if t is not None)


def _password(network: NetworkConfig) -> Iterable[str]:
    yield f"server password: {_secret_text(network.password)}"


def _sasl(network: NetworkConfig) -> Iterable[str]:
    if network.sasl_mechanism is None:
        yield "sasl: none"
        return
    sasl = f"sasl: {network.sasl_mechanism}"
    if network.sasl_user is not None:
        sasl += f" as {network.sasl_user}"
    if network.sasl_required:
        yield sasl + ", required (never joins unauthenticated)"
    else:
        yield sasl + ", optional (joins anyway if it fails)"
    if network.sasl_mechanism == "PLAIN":
        yield f"sasl password: {_secret_text(network.sasl_password)}"


def _keepalive(network: NetworkConfig) -> Iterable[str]:
    yield (
        f"keepalive: PING every {network.ping_interval:g}s, "
        f"reconnect after {network.ping_timeout:g}s without an answer"
    )


def _events_to(network: NetworkConfig) -> Iterable[str]:
    parts = []
    if network.file is not None:
        parts.append(f"text file {network.file}")
    if network.log_dir is not None:
        parts.append(f"a text file per channel and day under {network.log_dir}")
    if network.db is not None:
        parts.append(f"database {_masked_db(network.db)}")
    yield f"events to: {', '.join(parts) or 'SQLite at the default per-user path'}"


def _plaintext_secrets(network: NetworkConfig) -> Iterable[str]:
    if network.allow_plaintext_secrets:
        yield "secrets: may be sent without TLS (allow_plaintext_secrets)"


# --- the web pages ------------------------------------------------------------------------


def _title(web: WebConfig) -> Iterable[str]:
    yield f"title: {_show(web.title)}"


def _web_channels(web: WebConfig) -> Iterable[str]:
    yield f"channels: {', '.join(web.channels) if web.channels else 'all'}"


def _noindex(web: WebConfig) -> Iterable[str]:
    yield f"search engines: {'asked not to index' if web.noindex else 'may index'}"


# --- the parts, in order ------------------------------------------------------------------

#: where a part's labelled keys (``  LABEL: VALUE``, in the table's order) are shown
LABELLED = Line("labelled keys", lambda obj: ())

#: scope -> the lines of that part. A network and the web pages begin with a heading
#: line (their first); the lines after it are indented.
LINES: dict[str, tuple[Line, ...]] = {
    "top": (
        Line("config file", _config_file),
        Line("networks", _networks),
        Line("metrics", _metrics),
        Line("log files", _log_files),
        LABELLED,
    ),
    "network": (
        Line("network", lambda n: [f"network {n.name or '(name from the server)'}"]),
        Line("server", _server),
        Line("client certificate", _client_cert),
        Line("nick", _nick),
        Line("channels", _channels),
        Line("server password", _password),
        Line("sasl", _sasl),
        Line("plaintext secrets", _plaintext_secrets),
        Line("keepalive", _keepalive),
        LABELLED,
        Line("events to", _events_to),
    ),
    "web": (
        Line("web pages", lambda w: [f"web pages: http://{_host_port(w.host, w.port)}/"]),
        Line("title", _title),
        Line("channels", _web_channels),
        Line("search engines", _noindex),
        LABELLED,
    ),
}

#: keys config check leaves out: the [[network]] and [web] tables themselves (their keys
#: are shown), and the ones it has never shown (give one a label to show it)
NOT_SHOWN = frozenset({"network", "web"})


def _part(scope: str, obj: Any) -> list[str]:
    lines: list[str] = []
    for line in LINES[scope]:
        if line is LABELLED:
            for key in KEYS:
                if key.label is not None and key.scope == scope:
                    lines.append(f"{key.label}: {value_text(getattr(obj, key.name))}")
        else:
            lines.extend(line.show(obj))
    if scope == "top":
        return lines
    return [lines[0], *("  " + line for line in lines[1:])]


def describe(settings: Settings) -> str:
    """What a run with these settings does, for ``logbot config check``; secrets masked."""
    lines = _part("top", settings)
    for network in settings.networks:
        lines.extend(["", *_part("network", network)])
    if settings.web is not None:
        lines.extend(["", *_part("web", settings.web)])
    from logbot.policy import consent_warnings

    # Libera.Chat's policy: said by config check, not at every start of a run
    where = settings.config_file or "--channel"
    for warning in (*settings.warnings, *consent_warnings(settings, where)):
        lines.extend(["", f"warning: {warning}"])
    return "\n".join(lines)
