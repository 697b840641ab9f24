"""The files a config names, checked while settings are built: ``${VAR}`` and ``~`` in
paths, secret files (one line, UTF-8, a warning when others may read them), the client
certificate and CA files (PEM, loadable by the ssl module) and database URLs.

Every problem is a :class:`~logbot.setting_keys.ConfigError` naming where it was set.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping

from logbot.setting_keys import _fail

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_path(path: str, where: str, base: str | None, environ: Mapping[str, str]) -> str:
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


def check_db_url(url: str, where: str) -> None:
    """A URL SQLAlchemy can parse (the engine itself is made only when the bot starts)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError):
        # The URL may hold a password: name the problem, not the value.
        _fail(where, "is not a valid database URL (dialect+driver://user@host/database)")


def mode_warning(path: str, where: str, what: str) -> str | None:
    """The warning for a key or secret file its group or every user may read, else None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o044:
        return None
    who = " and ".join(w for w, bit in (("its group", 0o040), ("every user", 0o004)) if mode & bit)
    return f"{where}: {what} {path} is readable by {who} (mode {mode:04o}); chmod 600 it"


def read_secret_file(path: str, where: str) -> str:
    """The one line of a secret file (a trailing newline is not part of the secret)."""
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


def check_client_cert(path: str, where: str) -> None:
    """One PEM file holding the certificate and its unencrypted private key, which match."""
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
    import ssl

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


def check_ca(path: str, where: str) -> None:
    """A PEM file of CA certificates the ssl module can load."""
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        _fail(where, f"{path} holds no PEM CA certificate")
    except OSError as exc:
        _fail(where, f"cannot read {path}: {exc.strerror or exc}")
