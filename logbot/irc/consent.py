"""Consent, applied where events are made: what people asked not to keep never leaves here.

:class:`ConsentFilter` stands between the protocol and the sink it was given, so a nolog
line or an opted-out nick's line reaches no backend, no buffer and no spool:

- a message, action or notice starting with one of the channel's ``nolog_prefixes``
  (leading spaces and case ignored) is dropped, unless the bot itself said it;
- the messages, actions and notices of an opted-out nick are dropped; their joins,
  parts, quits and nick changes are kept without userhost and without the reason they
  typed (a kick they made keeps no reason either);
- nicks compare under the network's casemapping (asked of the roster on each use, as
  ISUPPORT may change it), and an opted-out person who changes nick stays opted out in
  that channel until they leave it or the connection ends.

:class:`Announcements` remembers when each channel was last told it is logged, so a
rejoin within :data:`ANNOUNCE_QUIET` seconds says nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from logbot.casemap import channel_key
from logbot.events import Event, Kind
from logbot.policy import channel_policy
from logbot.settings import NetworkConfig

__all__ = ["ANNOUNCE_QUIET", "Announcements", "ConsentFilter"]

#: an announcement is not repeated on a rejoin within this many seconds
ANNOUNCE_QUIET = 3600.0

_SAID = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.NOTICE})
_LEAVING = frozenset({Kind.PART, Kind.QUIT})


class _Channel:
    """One channel's rules, with its nicks folded under one casemapping."""

    __slots__ = ("first", "fold", "optout", "prefixes", "renamed", "width")

    def __init__(
        self, prefixes: tuple[str, ...], optout: frozenset[str], fold: Callable[[str], str]
    ) -> None:
        self.prefixes = tuple(p.lower() for p in prefixes)
        self.width = max((len(p) for p in prefixes), default=0)
        #: the characters a nolog line may start with (a cheap test for every line)
        self.first = frozenset(
            {c for p in prefixes for c in (p[0].lower(), p[0].upper())} | set(" \t")
        )
        self.optout = optout
        self.fold = fold
        #: folded nicks that became opted out by a nick change (until they leave)
        self.renamed: set[str] = set()


class _Folding(Protocol):
    #: the current nick folding function (the roster's; ISUPPORT may replace it)
    fold: Callable[[str], str]


class ConsentFilter:
    """``ConsentFilter(network, sink, roster)`` is a sink: it passes on what may be kept.

    ``roster.fold`` is read on each event: the folding of the network's casemapping.
    """

    def __init__(
        self, network: NetworkConfig, sink: Callable[[Event], None], roster: _Folding
    ) -> None:
        self._network = network
        #: the sink this filter passes what may be kept on to
        self.downstream = sink
        self._roster = roster
        self._channels: dict[str, _Channel] = {}
        #: channel -> the characters a message, action or notice must start with to need a
        #: look here, for each channel seen so far that has no opted-out nick: there only
        #: a nolog prefix keeps a line out (nobody becomes opted out by a nick change
        #: without someone opted out to begin with), so a line starting with any other
        #: character passes unchanged, and the protocol's hot path hands it straight to
        #: ``downstream`` (the same decision, without a call per line)
        self.unfiltered: dict[str, frozenset[str]] = {}

    def _rules(self, channel: str) -> _Channel:
        fold = self._roster.fold
        rules = self._channels.get(channel)
        if rules is None or rules.fold is not fold:
            policy = channel_policy(self._network, channel)
            renamed = rules.renamed if rules is not None else set()
            rules = _Channel(
                policy.nolog_prefixes, frozenset(fold(n) for n in policy.optout_nicks), fold
            )
            rules.renamed = {fold(n) for n in renamed}
            self._channels[channel] = rules
            if rules.optout:
                self.unfiltered.pop(channel, None)
            else:
                self.unfiltered[channel] = rules.first
        return rules

    def __call__(self, event: Event) -> None:
        # Every logged line passes here: the common case (a message from someone not
        # opted out, not starting like a prefix) is a few lookups.
        rules = self._channels.get(event.channel)
        if rules is None or rules.fold is not self._roster.fold:
            if not event.channel:
                self._session(event)
                return
            rules = self._rules(event.channel)
        kind = event.kind
        if kind in _SAID:
            if event.own:
                self.downstream(event)
                return
            text = event.text
            if text and text[0] in rules.first:
                head = text[: rules.width + 16].lstrip().lower()
                if rules.prefixes and head.startswith(rules.prefixes):
                    return
            if (rules.optout or rules.renamed) and self._opted_out(rules, event.nick):
                return
            self.downstream(event)
            return
        if not (rules.optout or rules.renamed) or event.own:
            self.downstream(event)
            return
        self._comings_and_goings(rules, event)

    def _session(self, event: Event) -> None:
        if event.kind is Kind.CONNECTED or event.kind is Kind.DISCONNECTED:
            # a new connection: nobody is known under another nick any more
            for rules in self._channels.values():
                rules.renamed.clear()
        self.downstream(event)

    def _comings_and_goings(self, rules: _Channel, event: Event) -> None:
        kind = event.kind
        out = self._opted_out(rules, event.nick)
        if kind is Kind.NICK:
            new = rules.fold(event.target)
            if out:
                # the old nick is free again: whoever takes it next is someone else
                rules.renamed.discard(rules.fold(event.nick))
                rules.renamed.add(new)
            else:
                rules.renamed.discard(new)
            if out or new in rules.optout:
                event = _without(event, text=False)
        elif kind is Kind.KICK:
            rules.renamed.discard(rules.fold(event.target))
            if out:
                event = _without(event, text=True)
        elif out:
            if kind in _LEAVING:
                rules.renamed.discard(rules.fold(event.nick))
            event = _without(event, text=kind in _LEAVING)
        self.downstream(event)

    @staticmethod
    def _opted_out(rules: _Channel, nick: str) -> bool:
        folded = rules.fold(nick)
        return folded in rules.optout or folded in rules.renamed


def _without(event: Event, *, text: bool) -> Event:
    """The event without its userhost (and, with ``text``, without the words typed)."""
    return Event(
        event.time,
        event.network,
        event.channel,
        event.kind,
        event.nick,
        "" if text else event.text,
        event.target,
        "",
        event.own,
        event.received,
    )


class Announcements:
    """Which channels were told they are logged, and when (kept across reconnects)."""

    def __init__(self, network: NetworkConfig) -> None:
        self._network = network
        self._said: dict[str, float] = {}

    def due(self, channel: str, now: float) -> str | None:
        """The text to say in ``channel`` now, or None (none configured, or said lately).

        Saying it is recorded here: call it once per join.
        """
        text = channel_policy(self._network, channel).announce
        if text is None:
            return None
        key = channel_key(channel)
        last = self._said.get(key)
        if last is not None and now - last < ANNOUNCE_QUIET:
            return None
        self._said[key] = now
        return text

    def dropped(self, channel: str) -> None:
        """What :meth:`due` gave was not said after all: the next join says it."""
        self._said.pop(channel_key(channel), None)

    def after_join(
        self, channel: str, now: float, reply: Callable[[str, str | None, str], bool]
    ) -> None:
        """The bot joined ``channel``: say the announcement if it is due.

        ``reply(line, channel, text)`` queues it and says whether it could: a full reply
        queue drops it, and then the next join says it.
        """
        text = self.due(channel, now)
        if text is not None and not reply(f"PRIVMSG {channel} :{text}", channel, text):
            self.dropped(channel)
