"""What a bot process loads at start: the memory a flood run starts from (issue #15)."""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from logbot import lean

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


def _modules_of_a_running_bot(*args: str) -> list[str]:
    """What a bot process (``logbot ARGS``, its server refusing) has imported by its
    shutdown."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(' '.join(sorted(\n"
        "    k for k, v in sys.modules.items() if v is not None)), flush=True))\n"
        "from logbot.cli import main\n"
        f"main({list(args)!r}, prog_name='logbot')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # up: its reactor runs, and it tried to connect
            seen.append(line)
            if "cannot connect to" in line:
                break
        else:
            raise AssertionError("the bot never started:\n" + "".join(seen))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return out.split()


def test_a_sqlite_bot_runs_without_the_stdlib_openssl_or_the_postgresql_dialect(
    tmp_path: Path,
) -> None:
    """A SQLite bot with no TLS network never loads the standard library's ssl or OpenSSL
    hashes, urllib.request, SQLAlchemy's PostgreSQL dialect, or Alembic (a new database
    needs no migration): ~8 MB of its memory (issue #15)."""
    with socket.socket() as probe:  # a port nothing listens on: the bot starts and retries
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "bot.sqlite"
    loaded = _modules_of_a_running_bot(
        "--server", "127.0.0.1", "--port", str(port), "--channel", "#x", "--db", str(db)
    )
    assert "logbot.backends.sql" in loaded
    assert "sqlalchemy.dialects.sqlite" in loaded
    unwanted = {"ssl", "_ssl", "OpenSSL", "alembic", "mako"}
    if lean._has_builtin_hashes():
        unwanted.add("_hashlib")
    assert not [m for m in loaded if m.split(".")[0] in unwanted]
    assert not [m for m in loaded if m.startswith("sqlalchemy.dialects.postgresql")]
    # Twisted's http.cookiejar is imported, but never loaded with all it imports
    assert not {"urllib.request", "http.client", "email.parser"} & set(loaded)
    # the database was created: the bot did start up
    assert db.exists()


_THREAD_MALLOC = (
    "import ctypes, sys, threading\n"
    "libc = ctypes.CDLL(None)\n"
    "libc.malloc.restype = ctypes.c_void_p\n"
    "where = []\n"
    "thread = threading.Thread(target=lambda: where.append(libc.malloc(64 * 1024)))\n"
    "thread.start()\n"
    "thread.join()\n"
    "heap = next(l.split()[0] for l in open('/proc/self/maps') if l.rstrip().endswith('[heap]'))\n"
    "low, high = (int(x, 16) for x in heap.split('-'))\n"
    "print('main arena' if low <= where[0] < high else 'thread arena')\n"
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas")
def test_the_bot_process_allocates_from_one_malloc_arena_in_every_thread() -> None:
    """After the bot's set-up a thread's malloc comes from the main arena (the heap),
    where glibc would otherwise give the thread an arena of its own (issue #15)."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def probe(setup: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", setup + _THREAD_MALLOC],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        )
        return proc.stdout.strip()

    assert probe("") == "thread arena"  # what glibc does by default
    assert probe("from logbot.service import _one_malloc_arena\n_one_malloc_arena()\n") == (
        "main arena"
    )
