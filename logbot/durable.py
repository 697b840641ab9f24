"""Making a file's name survive a power loss, not only its bytes.

``fsync`` (or ``fdatasync``) of a file makes its data durable, but the entry that names it
is data of its directory, made durable only by ``fsync`` of that directory (POSIX says so;
ext4 in ordered mode usually commits it along, XFS and btrfs need not). A file created,
written and synced can still be missing after a crash, and with it every line it held.
So whoever creates a file or directory that must last (a log, a spool segment, a database
put in place) syncs the directory that names it, once, before counting on it.
"""

from __future__ import annotations

import errno
import os

#: errors of a file system that cannot sync a directory (some network and FUSE file
#: systems): there is nothing more to do, and the data itself is written all the same
_CANNOT_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF})


def sync_directory(path: str | os.PathLike[str]) -> None:
    """fsync the directory ``path``, so that the entries it holds last.

    OSError when the directory cannot be opened or the disk refuses (EIO); nothing when the
    file system cannot sync directories at all.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _CANNOT_SYNC:
            raise
    finally:
        os.close(fd)


def makedirs(path: str | os.PathLike[str], mode: int = 0o777) -> list[str]:
    """``os.makedirs(path, mode, exist_ok=True)``; returns the directories whose entries
    are new and not yet synced: the parents of the directories it created, outermost first.

    The caller syncs them (:func:`sync_directory`) before counting on a file inside, on a
    thread of its choosing: a sync can take long enough to stall a reactor.
    """
    missing: list[str] = []
    probe = os.path.abspath(path)
    while not os.path.isdir(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    os.makedirs(path, mode, exist_ok=True)
    return [os.path.dirname(created) for created in reversed(missing)]


def makedirs_synced(path: str | os.PathLike[str], mode: int = 0o777) -> None:
    """:func:`makedirs`, each new entry synced before it returns (where blocking is fine:
    start-up, or a thread that syncs anyway)."""
    for parent in makedirs(path, mode):
        sync_directory(parent)
