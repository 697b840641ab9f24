"""What a bot process loads at start: the memory a flood run starts from (issue #15)."""

from __future__ import annotations

import subprocess
import sys

_TLS_MODULES = ("OpenSSL", "cryptography", "service_identity")


def _loaded_after(code: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.split()


def test_a_bot_without_tls_never_loads_openssl() -> None:
    """With no TLS network the reactor and the IRC side come up without pyOpenSSL and
    cryptography, and both can still be imported later."""
    loaded = _loaded_after(
        "import sys\n"
        "from logbot.service import _global_reactor\n"
        "_global_reactor(tls=False)\n"
        "import logbot.irc.factory, logbot.irc.protocol, logbot.backends.sql\n"
        "from twisted.internet import tcp\n"
        "assert 'OpenSSL' not in sys.modules\n"
        "assert tcp.Client.__mro__  # the TCP transport is there, without startTLS\n"
    )
    assert not [m for m in loaded if m.split(".")[0] in _TLS_MODULES]
    assert "twisted.internet.tcp" in loaded
    later = _loaded_after(
        "import sys\n"
        "from logbot.service import _global_reactor\n"
        "_global_reactor(tls=False)\n"
        "import OpenSSL.SSL\n"
    )
    assert "OpenSSL.SSL" in later


def test_a_bot_with_tls_loads_twisted_tls_support() -> None:
    """A TLS network gets Twisted's TLS transport, as before."""
    loaded = _loaded_after(
        "import sys\nfrom logbot.service import _global_reactor\n_global_reactor(tls=True)\n"
    )
    assert "twisted.internet._newtls" in loaded


def test_the_text_backend_does_not_load_sqlalchemy() -> None:
    """A bot writing only text files does not import SQLAlchemy."""
    loaded = _loaded_after("import sys\nimport logbot.service, logbot.backends.textfile\n")
    assert "logbot.backends.textfile" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "sqlalchemy"]
