"""Gap bookkeeping on the protocol: where a channel's record has a hole, and filling it.

:class:`GapKeeping` is a part of :class:`logbot.irc.protocol.LogBotProtocol`. A hole
starts (``gap_start``) when the bot disconnects, is kicked, parts or stops, once per
hole; it ends (``gap_end``) when the bot is in the channel again, and then the server's
history (:class:`logbot.irc.history.History`) is asked for what was said meanwhile: from
where the hole started, or, on a run's first join, from where storage says the channel's
record stopped (the factory's ``resume``). Where each hole started is kept in the
factory's :class:`~logbot.irc.history.GapBook`, across connections.
"""

from __future__ import annotations

from datetime import datetime

from logbot.events import GAP_END_FIRST_JOIN, Event, Kind
from logbot.irc.base import ProtocolBase


class GapKeeping(ProtocolBase):
    """The protocol's gap marks and backfill requests (see the module doc)."""

    def _gap_start(self, channel: str, why: str, when: datetime) -> None:
        """``channel`` stops being logged at ``when`` (once per hole)."""
        if self._gaps.start(self._fold(channel), when, channel):
            self._sink(Event(when, self._network_name, channel, Kind.GAP_START, "", why))

    def _gap_end(self, channel: str, when: datetime) -> tuple[datetime | None, bool]:
        """The bot is in ``channel`` again at ``when``: (where the hole started, whether
        this is the run's first join of it)."""
        since, first = self._gaps.end(self._fold(channel), channel)
        self._sink(
            Event(
                when,
                self._network_name,
                channel,
                Kind.GAP_END,
                "",
                GAP_END_FIRST_JOIN if first else "",
            )
        )
        return since, first

    def _fill_gap(self, channel: str, since: datetime | None, first: bool, when: datetime) -> None:
        """Ask the server's history for the hole :meth:`_gap_end` closed, if it keeps one."""
        self._history.configure(self._registration.caps)
        if since is not None:
            self._history.fill(channel, since, when)
        elif first and self._history.enabled:
            self._resume(channel, when)

    def _resume(self, channel: str, joined: datetime) -> None:
        """A run's first join: fill the time the bot was not running, from where storage
        says the channel's record stopped."""
        resume = self.factory.resume if self.factory is not None else None
        if resume is None:
            return

        def fill(since: datetime | None) -> None:
            # the answer comes from another thread, later: the connection may be gone
            if since is not None and not self._lost and self._joined(channel) is not None:
                self._history.fill(channel, since, joined)

        resume(self._network_name, channel, joined).addCallback(fill)

    def irc_BATCH(self, prefix: str, params: list[str]) -> None:
        self._history.batch(self._tags, params)

    def irc_FAIL(self, prefix: str, params: list[str]) -> None:
        if params and params[0].upper() == "CHATHISTORY":
            self._history.fail(self._tags, params)

    def irc_ACK(self, prefix: str, params: list[str]) -> None:
        self._history.ack(self._tags)
