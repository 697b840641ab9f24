"""The table of settings: every key's name, checker, default, scope, flag and help.

One line of :data:`KEYS` per setting drives the config file's validation, the run flags
of ``logbot`` (and their ``LOGBOT_*`` environment variables) and ``config check``. This
module is light on purpose (no Twisted, no dataclasses, no TLS): ``logbot.cli`` builds its
options from it on the way to a fast ``logbot search``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from logbot.casemap import CHANNEL_PREFIXES

if TYPE_CHECKING:
    from logbot.settings import ChannelConfig

DEFAULT_NICK = "logbot"
DEFAULT_PORT = 6667
DEFAULT_TLS_PORT = 6697
DEFAULT_PING_INTERVAL = 60.0
DEFAULT_PING_TIMEOUT = 120.0
DEFAULT_FALLBACK_ENCODING = "latin-1"
DEFAULT_LOG_LEVEL = "info"
#: where ``--metrics`` is usually pointed (the README's and the example's address)
EXAMPLE_METRICS_LISTEN = "127.0.0.1:9108"

DEFAULT_WEB_TITLE = "IRC logs"

#: a message or action starting with one of these is stored nowhere
DEFAULT_NOLOG_PREFIXES: tuple[str, ...] = ("[nolog]", "[off]")
#: who may see a channel's archive: "public" (listed, may be indexed), "unlisted" (served,
#: never listed or indexed), "private" (never served)
PUBLISH_LEVELS = ("public", "unlisted", "private")
DEFAULT_PUBLISH = "public"

LOG_LEVELS = ("debug", "info", "warn", "error")
SASL_MECHANISMS = ("PLAIN", "EXTERNAL")
#: every run option --NAME also reads the environment variable ENV_PREFIX + NAME.upper()
ENV_PREFIX = "LOGBOT_"
#: the environment variables that hold the secrets of a single-network run
PASSWORD_ENV = ENV_PREFIX + "PASSWORD"
SASL_PASSWORD_ENV = ENV_PREFIX + "SASL_PASSWORD"


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
        import json  # only an error message needs it: not on the way to `logbot search`

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
        info = codecs.lookup(name)
    except LookupError:
        _fail(where, f"unknown encoding {_show(name)}")
    # hex, rot13, base64...: codecs.lookup knows them, but they turn bytes into bytes (or
    # str into str), and idna, punycode, undefined refuse arbitrary bytes: the fallback must
    # turn any line into text (LogBotProtocol._handle_lines), so try it on every byte value.
    text = getattr(info, "_is_text_encoding", True)
    if text:
        try:
            text = isinstance(bytes(range(256)).decode(name, "replace"), str)
        except (UnicodeError, LookupError, TypeError, ValueError):
            text = False
    if not text:
        _fail(where, f"{_show(name)} is not a text encoding")
    return name


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


def _one_of(choices: Sequence[str]) -> Callable[[object, str], str]:
    """A checker of a word (any case) that must be one of ``choices`` (lower case)."""

    def check(value: object, where: str) -> str:
        word = _word(value, where).lower()
        if word not in choices:
            _fail(where, f"must be one of {', '.join(choices)}, got {_show(value)}")
        return word

    return check


_log_level = _one_of(LOG_LEVELS)


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


def _listen_text(value: object, where: str) -> str:
    """``HOST:PORT`` checked by :func:`parse_listen`, returned as given."""
    text = _word(value, where)
    try:
        parse_listen(text)
    except ValueError as exc:
        _fail(where, str(exc))
    return text


def _metrics(value: object, where: str) -> str:
    """The ``[metrics]`` table (its ``listen`` key), or ``HOST:PORT`` itself (flag, env)."""
    if not isinstance(value, dict):
        return _listen_text(value, where)
    for name in value:
        if name != "listen":
            _fail(f"{where}.{name}", "unknown key (the [metrics] table has listen only)")
    if "listen" not in value:
        _fail(where, f'missing listen: write listen = "{EXAMPLE_METRICS_LISTEN}"')
    return _listen_text(value["listen"], f"{where}.listen")


def _prefixes(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        _want("an array of strings", value, where)
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            _fail(where, f"each prefix must be a string, got {_got(item)}")
        out.append(_word(item, where))
    return tuple(out)


def _nicks(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        _want("an array of nicks", value, where)
    for item in value:
        if not isinstance(item, str):
            _fail(where, f"each nick must be a string, got {_got(item)}")
    return tuple(_nick(item, where) for item in value)


def _days(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _want("a whole number of days", value, where)
    if value < 1:
        _fail(where, f"must be at least 1 day, got {value}")
    return value


_publish = _one_of(PUBLISH_LEVELS)


def _channel_name(name: str, where: str) -> None:
    if name[0] not in CHANNEL_PREFIXES or "," in name or len(name) < 2:
        _fail(
            where,
            f"{_show(name)} is not a channel name (it starts with #, &, + or ! and has no comma)",
        )
    if any(ord(c) < 32 or c.isspace() for c in name):
        _fail(where, f"{_show(name)}: must not contain spaces or control characters")


def _channel_table(entry: dict[str, Any], where: str) -> ChannelConfig:
    """A ``[[network.channel]]`` table: ``name``, ``key`` and the per-channel keys."""
    from logbot.settings import ChannelConfig

    name = entry.get("name")
    if name is None:
        _fail(where, 'a channel table needs name = "#channel"')
    name = _text(name, f"{where}: name")
    _channel_name(name, f"{where}: name")
    here = f"{where}: {name}"
    values: dict[str, Any] = {}
    for raw, value in entry.items():
        field = raw.replace("-", "_")
        if field == "name":
            continue
        if field == "key":
            # the key is the channel's password: never echoed
            if not isinstance(value, str) or not value or any(c.isspace() for c in value):
                _fail(f"{here}: key", "must be a string without spaces")
            values["key"] = value
            continue
        key = _BY_NAME.get(field)
        if key is None or not key.channel:
            allowed = ", ".join(["name", "key", *(k.name for k in KEYS if k.channel)])
            _fail(f"{here}: {raw}", f"unknown key in a channel table (it takes {allowed})")
        if field in values:
            _fail(f"{here}: {raw}", "given twice")
        values[field] = key.check(value, f"{here}: {raw}")
    return ChannelConfig(name=name, **values)


def _channels(value: object, where: str) -> tuple[ChannelConfig, ...]:
    """``"#chan"`` or ``"#chan key"`` entries, or channel tables (a string or an array)."""
    entries: Sequence[object]
    if isinstance(value, str):
        entries = [value]
    elif isinstance(value, list | tuple):
        entries = value
    else:
        _want("an array of channel names", value, where)
    if not entries:
        _fail(where, "must list at least one channel")
    from logbot.settings import ChannelConfig

    channels: list[ChannelConfig] = []
    seen: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, dict):
            table = _channel_table(entry, where)
            folded = table.name.lower()
            if folded in seen:
                _fail(where, f"{_show(table.name)} is listed twice")
            seen[folded] = table.name
            channels.append(table)
            continue
        if not isinstance(entry, str):
            _fail(where, f"each channel must be a string or a table, got {_got(entry)}")
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


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); ``[::1]:8080`` for IPv6 (returned unbracketed), no
    host means 127.0.0.1. ValueError saying what is wrong otherwise."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, as [::1]:8080, got {_show(text)}")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT (a port from 1 to 65535), got {_show(text)}")
    return host or "127.0.0.1", int(port)


def _listen(value: object, where: str) -> tuple[str, int]:
    try:
        return parse_listen(_word(value, where))
    except ValueError as exc:
        _fail(where, str(exc))


def _channel_names(value: object, where: str) -> tuple[str, ...]:
    """Channel names, without keys (a string or an array of them)."""
    channels = _channels(value, where)
    for channel in channels:
        if channel.key is not None:
            _fail(where, f"{_show(channel.name)}: a channel name only, without a key")
    return tuple(c.name for c in channels)


# --- keys ---------------------------------------------------------------------------------


class Key(NamedTuple):
    """One setting: everything validation, the run flags, the environment and ``config check``
    need to know about it. A new setting is one :data:`KEYS` entry (and, for a network
    setting, the :class:`~logbot.settings.NetworkConfig` field of the same name); with a
    ``label``, ``config check`` shows it too.
    """

    #: the config file's key (a dash may stand for an underscore in the file)
    name: str
    #: ``check(raw, where)`` -> the normalized value, or raises :class:`ConfigError`
    check: Callable[[object, str], Any]
    #: one sentence for ``--help`` and the documentation
    help: str
    #: the value when no source sets it (None: unset)
    default: Any = None
    #: "network": a [[network]] table's key, which the top level may set as a default for
    #: every network; "top": only the top level (one for the whole process); "web": a key
    #: of the [web] table (the web archive served by the bot's own process)
    scope: str = "network"
    #: the run option that sets it (``--flag-name`` and ``LOGBOT_FLAG_NAME``); None: file only
    flag: str | None = None
    #: how the flag's text is parsed: str, int, float or bool (an on/off pair of flags)
    flag_type: type = str
    #: inclusive bounds of an int/float flag
    minimum: float | None = None
    maximum: float | None = None
    #: the only values the flag accepts (case does not matter)
    choices: tuple[str, ...] = ()
    #: the flag may be repeated
    multiple: bool = False
    metavar: str | None = None
    #: the flag describes one network: with several networks it has no meaning
    one_network: bool = False
    #: a file system path: in the file, ${VAR} and ~ are expanded and a relative path is
    #: taken relative to the config file's directory
    path: bool = False
    #: it says where a secret is (never the secret itself)
    secret: bool = False
    #: the checked value (or the default) is the NetworkConfig field of the same name;
    #: False for keys the builder combines with others (port, sasl, secrets, backends)
    plain: bool = True
    #: ``config check`` shows it on a line of its own, ``LABEL: VALUE`` (a network's and
    #: the web pages' lines indented), after its part's combined lines...
    label: str | None = None
    #: ...or on the combined line of this name, which shows it with others (declared in
    #: :data:`logbot.config_check.LINES`); a key with neither is in ``NOT_SHOWN`` there
    line: str | None = None
    #: a channel table (``[[network.channel]]``) may set it too, for that channel only (the
    #: :class:`~logbot.settings.ChannelConfig` field of the same name; None there: the
    #: network's value). Scope "channel": only a channel table may set it.
    channel: bool = False

    @property
    def option(self) -> str:
        """``--flag-name``"""
        assert self.flag is not None
        return "--" + self.flag.replace("_", "-")

    @property
    def env(self) -> str | None:
        """``LOGBOT_FLAG_NAME``, the environment variable the flag also reads."""
        return None if self.flag is None else ENV_PREFIX + self.flag.upper()


#: every setting, in the order of ``logbot --help``
KEYS: tuple[Key, ...] = (
    Key("server", _word, "IRC server host name.", flag="server", metavar="HOST",
        one_network=True, line="server"),
    Key("port", _port, f"Server port [default: {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with --tls].",
        flag="port", flag_type=int, minimum=1, maximum=65535, one_network=True, plain=False,
        line="server"),
    Key("tls", _bool, "Connect with TLS.", default=False, flag="tls", flag_type=bool,
        line="server"),
    Key("tls_verify", _bool, "Verify the server's certificate and host name [default: verify].",
        default=True, flag="tls_verify", flag_type=bool, line="server"),
    Key("tls_ca", _text, "PEM file of the CA certificates to trust instead of the system's.",
        path=True, line="server"),
    Key("client_cert", _text, "PEM file with the client certificate and its unencrypted key.",
        path=True, line="client certificate"),
    Key("nick", _nick, "The bot's nick.", default=DEFAULT_NICK, flag="nick", line="nick"),
    Key("username", _username, "The user name sent on registration [default: the nick].",
        line="nick"),
    Key("realname", _text, "The real name sent on registration [default: logbot].", line="nick"),
    Key("channels", _channels, "Channel to log; repeat for several. 'CHAN KEY' for a keyed "
        "channel.", flag="channel", multiple=True, metavar="CHAN", one_network=True,
        plain=False, line="channels"),
    Key("file", _text, "Write the text log here.", flag="file", metavar="PATH", path=True,
        plain=False, line="events to"),
    Key("log_dir", _text, "Write one text log per network, channel and local day under this "
        "directory (DIR/NETWORK/#CHANNEL/YYYY-MM-DD.log).", flag="log_dir", metavar="DIR",
        path=True, plain=False, line="events to"),
    Key("db", _text, "SQLite file or SQLAlchemy URL [default: SQLite in the user data dir].",
        flag="db", metavar="PATH_OR_URL", plain=False, line="events to"),
    Key("name", _text, "Network name in stored records [default: the server's NETWORK=, else "
        "the host].", flag="network", metavar="NAME", one_network=True, line="network"),
    Key("password_env", _env_name, "Environment variable holding the server password.",
        secret=True, plain=False, line="server password"),
    Key("password_file", _text, "File holding the server password.", path=True, secret=True,
        plain=False, line="server password"),
    Key("sasl_mechanism", _mechanism, "PLAIN (with a password) or EXTERNAL (client_cert).",
        plain=False, line="sasl"),
    Key("sasl_user", _word, "SASL account name [default: the nick].", plain=False, line="sasl"),
    Key("sasl_password_env", _env_name, "Environment variable holding the SASL password.",
        secret=True, plain=False, line="sasl"),
    Key("sasl_password_file", _text, "File holding the SASL password.", path=True,
        secret=True, plain=False, line="sasl"),
    Key("sasl_required", _bool, "Never join unless SASL succeeded.", default=False, line="sasl"),
    Key("allow_plaintext_secrets", _bool,
        "Send the server password, SASL PLAIN or NickServ IDENTIFY over a connection without "
        "TLS.",
        default=False, line="plaintext secrets"),
    Key("ping_interval", _seconds, "Seconds between keepalive PINGs.",
        default=DEFAULT_PING_INTERVAL, flag="ping_interval", flag_type=float, minimum=1.0,
        metavar="SECONDS", line="keepalive"),
    Key("ping_timeout", _seconds, "Reconnect after this many seconds without an answer.",
        default=DEFAULT_PING_TIMEOUT, flag="ping_timeout", flag_type=float, minimum=1.0,
        metavar="SECONDS", line="keepalive"),
    Key("fallback_encoding", _encoding, "Decoding for lines that are not valid UTF-8.",
        default=DEFAULT_FALLBACK_ENCODING, flag="fallback_encoding", metavar="ENC",
        label="bytes that are not UTF-8 decoded as"),
    Key("log_level", _log_level, "The least severe events the bot logs on stderr.",
        default=DEFAULT_LOG_LEVEL, scope="top", flag="log_level", choices=LOG_LEVELS,
        line="networks"),
    Key("file_mode", _file_mode,
        'Permissions of new log files, as octal ("0640" lets the group read) [default: 0600].',
        scope="top", plain=False, line="log files"),
    Key("compress_after_days", _days, "gzip a day's file of log_dir this many days after that "
        "day.", scope="top", plain=False, line="log files"),
    Key("metrics", _metrics, "Serve /metrics (Prometheus) and /healthz on HOST:PORT "
        "(the file's [metrics] table: listen = ...).", scope="top", flag="metrics",
        metavar="HOST:PORT", plain=False, line="metrics"),
    # consent and retention (README "Consent and retention")
    Key("nolog_prefixes", _prefixes, "A message or action starting with one is stored nowhere.",
        default=DEFAULT_NOLOG_PREFIXES, channel=True, label="unlogged lines start with"),
    Key("optout_nicks", _nicks, "Nicks whose messages are stored nowhere (joins without "
        "userhost).", default=(), channel=True, label="opted-out nicks"),
    Key("retention_days", _days, "Delete stored events older than this many days (local "
        "midnight).", channel=True, label="retention (days)"),
    Key("publish", _publish, "public (listed), unlisted (served, not listed) or private "
        "(never served) in the web archive.", default=DEFAULT_PUBLISH, channel=True,
        label="web archive"),
    Key("announce", _text, "Said once in the channel after joining (e.g. where the logs are).",
        scope="channel", channel=True),
    # [[network]] tables, or the name of the one network a file without tables describes
    Key("network", _text, "The [[network]] tables, or the name of the one network.",
        scope="top", plain=False),
    # the [web] table: the archive's web pages served by the bot's own process
    Key("web", _text, "The [web] table: serve the archive's web pages from this process.",
        scope="top", plain=False),
    Key("listen", _listen, 'Where the web pages are served, "HOST:PORT".', scope="web",
        plain=False, line="web pages"),
    Key("channels", _channel_names, "Only these channels are shown [default: all].",
        default=(), scope="web", plain=False, line="channels"),
    Key("title", _text, "The site's name.", default=DEFAULT_WEB_TITLE, scope="web",
        plain=False, line="title"),
    Key("noindex", _bool, "Ask search engines not to index the pages.", default=True,
        scope="web", plain=False, line="search engines"),
)  # fmt: skip
_BY_NAME = {key.name: key for key in KEYS if key.scope != "web"}
#: keys a [[network]] table may hold
_NETWORK_KEYS = tuple(key.name for key in KEYS if key.scope == "network")
#: keys the top level may hold: every network key as a default (but a network's own name),
#: and the process-wide ones
_TOP_KEYS = tuple(
    key.name for key in KEYS if key.name != "name" and key.scope not in ("web", "channel")
)
#: the keys of the [web] table
WEB_KEYS: dict[str, Key] = {key.name: key for key in KEYS if key.scope == "web"}
#: every key a config file may use (dashes may stand for underscores; channel = channels)
CONFIG_KEYS: frozenset[str] = frozenset(_BY_NAME)
#: run option name -> config key
RUN_OPTION_KEYS: dict[str, Key] = {key.flag: key for key in KEYS if key.flag is not None}
