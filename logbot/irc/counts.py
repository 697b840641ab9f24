"""What one network's connections count, as plain integers.

The protocol and the factory add to these on the reactor thread (an integer addition per
read, so counting costs next to nothing whether or not anyone looks); ``logbot.metrics``
reads them when ``/metrics`` is scraped. Nothing here knows Prometheus.
"""

from __future__ import annotations


class NetworkCounts:
    """Totals over every connection to one network since the process started."""

    __slots__ = ("backfilled", "lines", "reconnects", "unparsed")

    def __init__(self) -> None:
        #: IRC lines received (not counting empty ones)
        self.lines = 0
        #: lines that could not be parsed as IRC (no command, a lone tag...)
        self.unparsed = 0
        #: connection attempts after the first
        self.reconnects = 0
        #: events from the server's history (chathistory backfill) handed to the sink
        self.backfilled = 0
