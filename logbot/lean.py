"""Importing the bot's dependencies without the parts of them the bot never uses.

Twisted (through ``http.cookiejar``), asyncio (which Twisted and SQLAlchemy import) and
SQLAlchemy (``hashlib``) load the standard library's ``ssl`` and ``_hashlib``, and with them
the system's OpenSSL: ~4.6 MB of a bot's memory (issue #15), for nothing. The bot's TLS is
pyOpenSSL's, through Twisted, and its hashes (SQLAlchemy's md5, the spool's sha256) are
the builtin ones. Each of those importers falls back when the module is missing, as on a
Python built without OpenSSL.

Twisted also imports ``http.cookiejar`` only to offer it under an old name, and that
imports ``urllib.request``, ``http.client`` and the email parser: ~0.8 MB more.

API:

- :func:`bot_imports` ``()``: the context manager the bot's first imports run in: both
  of the above.
- :func:`on_first_use` ``(name)``: ``import NAME`` from now on gives a module whose code
  runs when one of its attributes is first used (``importlib.util.LazyLoader``).
- :func:`hidden` ``(*names)``: a context manager; imports inside it see each name not yet
  imported as not installed. Afterwards they import normally.
- :func:`without_stdlib_openssl` ``()``: :func:`hidden` for ``ssl`` and ``_ssl``, and for
  ``_hashlib`` when this Python has every builtin hash ``hashlib`` needs instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator

#: the builtin modules hashlib falls back to without OpenSSL (3.12 merged the sha2 ones)
_BUILTIN_HASHES = (("_md5",), ("_sha1",), ("_sha256", "_sha2"), ("_sha512", "_sha2"), ("_sha3",))


@contextlib.contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Inside the block, ``import NAME`` raises ImportError for each of ``names`` that is not
    imported yet (one already imported stays as it is)."""
    hide = [name for name in names if name not in sys.modules]
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hide:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _has_builtin_hashes() -> bool:
    return all(
        any(importlib.util.find_spec(name) is not None for name in choices)
        for choices in _BUILTIN_HASHES
    )


def without_stdlib_openssl() -> contextlib.AbstractContextManager[None]:
    """:func:`hidden` for the standard library's OpenSSL modules (see the module doc)."""
    names = ["ssl", "_ssl"]
    if _has_builtin_hashes():
        # some distributions build md5 and sha* from OpenSSL only: keep _hashlib there
        names.append("_hashlib")
    return hidden(*names)


def on_first_use(name: str) -> None:
    """Import ``name`` lazily: its code runs at the first use of one of its attributes."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        # as the import system does: ``from http import cookiejar`` then finds it there
        # instead of asking for it, which would load it
        setattr(sys.modules[parent], child, module)


@contextlib.contextmanager
def bot_imports() -> Iterator[None]:
    """The bot's first imports of Twisted, asyncio and hashlib (see the module doc)."""
    on_first_use("http.cookiejar")
    with without_stdlib_openssl():
        yield
