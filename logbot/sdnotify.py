"""systemd's notify protocol (``sd_notify(3)``): one datagram per state, no dependency.

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the service started;
with ``WatchdogSec=`` it restarts a service that does not send ``WATCHDOG=1`` at least
that often. The service sends it from the reactor, so a reactor that wedges (a blocking
call, a busy loop) stops the heartbeat and is restarted. Outside systemd
(``NOTIFY_SOCKET`` unset) every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from twisted.logger import Logger

log = Logger(namespace="logbot.service")


class Notifier:
    """Sends states to ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace)."""

    def __init__(self, environ: Mapping[str, str] | None = None, pid: int | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address: str | None = None
        path = env.get("NOTIFY_SOCKET", "")
        if path.startswith("@"):
            self.address = "\0" + path[1:]
        elif path.startswith("/"):
            self.address = path
        self._warned = False
        self.watchdog_interval = _watchdog_interval(env, os.getpid() if pid is None else pid)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        """Send ``state`` (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``); True if it went."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(self.address)
                s.sendall(state.encode("utf-8"))
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warn(
                    "cannot notify systemd ({state}): {error}",
                    state=state,
                    error=exc.strerror or str(exc),
                )
            return False
        return True


def _watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds (sd_watchdog_enabled's rule), or None."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None  # the watchdog is another process's (a wrapper that exec'd us not)
    return int(usec) / 1_000_000 / 2
