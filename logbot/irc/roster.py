"""Who is in which channel, so a QUIT or NICK is recorded in every channel it touched.

Pure bookkeeping (no Twisted, no I/O), fed by the protocol from NAMES (353/366), JOIN,
PART, KICK, NICK and QUIT. Names compare under the server's IRC casemapping
(``rfc1459`` unless ISUPPORT ``CASEMAPPING`` says otherwise); the spelling shown is
the one the server used last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from string import ascii_lowercase, ascii_uppercase

from logbot.casemap import ASCII_LOWER, RFC1459_SPECIALS

_ASCII = ASCII_LOWER
_STRICT_RFC1459 = str.maketrans(ascii_uppercase + "[]\\", ascii_lowercase + "{}|")
_RFC1459 = {**_ASCII, **RFC1459_SPECIALS}

DEFAULT_CASEMAPPING = "rfc1459"


def casefolder(casemapping: str) -> Callable[[str], str]:
    """The function that folds a nick or channel name under ``casemapping``.

    ``ascii``, ``rfc1459`` and ``strict-rfc1459`` are exact; any other mapping (for
    example ``rfc7613``) folds with Unicode lower-casing, the closest general rule.
    """
    mapping = casemapping.lower()
    if mapping == "ascii":
        table = _ASCII
    elif mapping == "strict-rfc1459":
        table = _STRICT_RFC1459
    elif mapping == "rfc1459":
        table = _RFC1459
    else:

        def fold_unicode(name: str) -> str:
            return name.translate(_RFC1459).lower()

        return fold_unicode

    def fold(name: str) -> str:
        return name.translate(table)

    return fold


class _Channel:
    __slots__ = ("members", "name", "pending")

    def __init__(self, name: str) -> None:
        self.name = name
        # folded nick -> nick as last seen
        self.members: dict[str, str] = {}
        # a NAMES reply in progress (353 lines until 366), replacing members when complete
        self.pending: dict[str, str] | None = None


class Roster:
    """The channels the bot is in and the nicks in each.

    Only channels the bot has joined are tracked: a JOIN of someone else into a channel
    the bot is not in is ignored.
    """

    __slots__ = ("_channels", "casemapping", "fold")

    def __init__(self, casemapping: str = DEFAULT_CASEMAPPING) -> None:
        self.casemapping = casemapping
        self.fold = casefolder(casemapping)
        self._channels: dict[str, _Channel] = {}

    def set_casemapping(self, casemapping: str) -> None:
        """Switch to the server's casemapping, refolding what is already known."""
        if casemapping.lower() == self.casemapping.lower():
            return
        self.casemapping = casemapping
        self.fold = fold = casefolder(casemapping)
        channels: dict[str, _Channel] = {}
        for chan in self._channels.values():
            chan.members = {fold(nick): nick for nick in chan.members.values()}
            if chan.pending is not None:
                chan.pending = {fold(nick): nick for nick in chan.pending.values()}
            channels[fold(chan.name)] = chan
        self._channels = channels

    # -- the bot's own membership -------------------------------------------------

    def joined(self, channel: str) -> None:
        """The bot joined ``channel``: track it, empty until NAMES or JOINs fill it."""
        self._channels[self.fold(channel)] = _Channel(channel)

    def left(self, channel: str) -> None:
        """The bot left ``channel`` (part or kick): forget it and its members."""
        self._channels.pop(self.fold(channel), None)

    def clear(self) -> None:
        """Forget everything (the connection is gone)."""
        self._channels.clear()

    def is_joined(self, channel: str) -> bool:
        return self.fold(channel) in self._channels

    def canonical(self, channel: str) -> str | None:
        """The channel's name as the server spelled it on join, None if not joined."""
        chan = self._channels.get(self.fold(channel))
        return None if chan is None else chan.name

    def channels(self) -> list[str]:
        """The channels the bot is in, in the order it joined them."""
        return [chan.name for chan in self._channels.values()]

    def members(self, channel: str) -> list[str]:
        """The nicks known to be in ``channel`` (empty if not joined)."""
        chan = self._channels.get(self.fold(channel))
        return [] if chan is None else list(chan.members.values())

    # -- other people ---------------------------------------------------------------

    def add(self, channel: str, nick: str) -> None:
        """``nick`` joined ``channel``."""
        chan = self._channels.get(self.fold(channel))
        if chan is not None:
            chan.members[self.fold(nick)] = nick

    def remove(self, channel: str, nick: str) -> bool:
        """``nick`` left ``channel`` (part or kick); True if it was known there."""
        chan = self._channels.get(self.fold(channel))
        if chan is None:
            return False
        return chan.members.pop(self.fold(nick), None) is not None

    def quit(self, nick: str) -> list[str]:
        """``nick`` quit the network: the channels it was in, each removed from."""
        key = self.fold(nick)
        shared = []
        for chan in self._channels.values():
            if chan.members.pop(key, None) is not None:
                shared.append(chan.name)
        return shared

    def rename(self, old: str, new: str) -> list[str]:
        """``old`` is now ``new``: the channels the nick is in, each updated."""
        old_key = self.fold(old)
        new_key = self.fold(new)
        shared = []
        for chan in self._channels.values():
            if chan.members.pop(old_key, None) is not None:
                chan.members[new_key] = new
                shared.append(chan.name)
        return shared

    # -- NAMES ------------------------------------------------------------------------

    def names(self, channel: str, names: Iterable[str], prefixes: str) -> None:
        """One RPL_NAMREPLY (353) line: ``names`` as the server sent them.

        Every leading character in ``prefixes`` (ISUPPORT PREFIX symbols; several with
        multi-prefix) is stripped, and so is a ``!user@host`` (userhost-in-names).
        """
        chan = self._channels.get(self.fold(channel))
        if chan is None:
            return
        if chan.pending is None:
            chan.pending = {}
        pending = chan.pending
        fold = self.fold
        for entry in names:
            nick = entry.lstrip(prefixes) if prefixes else entry
            bang = nick.find("!")
            if bang >= 0:
                nick = nick[:bang]
            if nick:
                pending[fold(nick)] = nick

    def end_names(self, channel: str) -> None:
        """RPL_ENDOFNAMES (366): the NAMES reply is complete and replaces the member list."""
        chan = self._channels.get(self.fold(channel))
        if chan is not None and chan.pending is not None:
            chan.members = chan.pending
            chan.pending = None
