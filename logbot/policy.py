"""What each channel's consent settings come to: pure rules, no Twisted, no storage.

- :func:`channel_policy`: a channel's effective settings (its own table's keys over its
  network's, over the top level's).
- :func:`may_serve`, :func:`may_list`, :func:`may_index`: what ``publish`` allows the web
  archive and ``logbot html`` to do with a channel.
- :func:`retention_cutoff`: the instant before which ``retention_days`` deletes events.
- :func:`consent_warnings`: what ``config check`` says about Libera.Chat's logging policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from logbot.casemap import channel_key
from logbot.settings import ChannelConfig, NetworkConfig, Settings

__all__ = [
    "Access",
    "ChannelPolicy",
    "channel_policy",
    "consent_warnings",
    "may_index",
    "may_list",
    "may_serve",
    "network_for",
    "retention_cutoff",
    "web_access",
]


@dataclass(frozen=True)
class ChannelPolicy:
    """One channel's consent and retention settings, with the network's filled in."""

    nolog_prefixes: tuple[str, ...]
    optout_nicks: tuple[str, ...]
    announce: str | None
    publish: str
    retention_days: int | None


def _configured(network: NetworkConfig, channel: str) -> ChannelConfig | None:
    key = channel_key(channel)
    for configured in network.channels:
        if channel_key(configured.name) == key:
            return configured
    return None


def channel_policy(network: NetworkConfig, channel: str) -> ChannelPolicy:
    """``channel``'s policy on ``network``; a channel no table names gets the network's.

    A channel's ``nolog_prefixes`` replaces the network's (so it may empty them); its
    ``optout_nicks`` add to the network's (nobody opted out network-wide is logged).
    """
    own = _configured(network, channel)
    if own is None:
        return ChannelPolicy(
            network.nolog_prefixes, network.optout_nicks, None, network.publish,
            network.retention_days,
        )  # fmt: skip
    extra = tuple(n for n in own.optout_nicks if n not in network.optout_nicks)
    optout = network.optout_nicks + extra
    return ChannelPolicy(
        nolog_prefixes=network.nolog_prefixes if own.nolog_prefixes is None else own.nolog_prefixes,
        optout_nicks=optout,
        announce=own.announce,
        publish=network.publish if own.publish is None else own.publish,
        retention_days=network.retention_days if own.retention_days is None else own.retention_days,
    )


def network_for(settings: Settings, name: str) -> NetworkConfig | None:
    """The configured network whose records carry ``name`` (its name, else its server)."""
    folded = name.lower()
    for network in settings.networks:
        if (network.name or network.server).lower() == folded:
            return network
    return None


def stored_channel_policy(settings: Settings, network: str, channel: str) -> ChannelPolicy:
    """The policy of a channel as stored (network name as in records), for the web and prune.

    A network no ``[[network]]`` table names (it was named by the server) gets the
    top-level ``publish`` and ``retention_days``.
    """
    configured = network_for(settings, network)
    if configured is None:
        return ChannelPolicy((), (), None, settings.publish, settings.retention_days)
    return channel_policy(configured, channel)


# --- publish: what the web archive may do --------------------------------------------------


def may_serve(publish: str) -> bool:
    """Pages of the channel may be served (to anyone who has the address)."""
    return publish in ("public", "unlisted")


def may_list(publish: str) -> bool:
    """The channel may appear in the archive's index and in searches across channels."""
    return publish == "public"


def may_index(publish: str, noindex: bool) -> bool:
    """Search engines may index its pages (no ``noindex`` robots header/meta)."""
    return publish == "public" and not noindex


@dataclass(frozen=True)
class Access:
    """What the web archive (and ``logbot html``) may do with one stored channel."""

    served: bool
    listed: bool
    indexed: bool


def web_access(settings: Settings | None, network: str, channel: str, noindex: bool) -> Access:
    """May this stored channel be served, listed, indexed? ``settings`` None (``logbot web``
    without ``--config``): every channel is public."""
    publish = (
        "public" if settings is None else stored_channel_policy(settings, network, channel).publish
    )
    return Access(may_serve(publish), may_list(publish), may_index(publish, noindex))


# --- retention -----------------------------------------------------------------------------


def retention_cutoff(days: int, now: datetime, tz: tzinfo) -> datetime:
    """Events before this instant (UTC) are older than ``days`` days.

    "The last N days" are today and the N-1 local days before it: the cutoff is local
    midnight at the start of the day N-1 days before today, in ``tz``. A day of 23 or 25
    hours (a DST change) is still one day.
    """
    if days < 1:
        raise ValueError("retention_days must be at least 1")
    today = now.astimezone(tz).date()
    first_kept = today - timedelta(days=days - 1)
    midnight = datetime.combine(first_kept, time(0), tzinfo=tz)
    # zoneinfo resolves a nonexistent local midnight (a DST jump at 00:00) forward: fold=0
    return midnight.astimezone(UTC)


# --- config check ----------------------------------------------------------------------------


def consent_warnings(settings: Settings, where: str) -> Sequence[str]:
    """Libera.Chat asks that logging be announced and that unlogged comments be possible."""
    out: list[str] = []
    for index, network in enumerate(settings.networks, start=1):
        label = network.name or f"network #{index}"
        for channel in network.channels:
            policy = channel_policy(network, channel.name)
            if not may_serve(policy.publish):
                continue
            if policy.announce is None:
                out.append(
                    f"{where}: {label} {channel.name}: published ({policy.publish}) without "
                    "announce"
                )
            if not policy.nolog_prefixes:
                out.append(
                    f"{where}: {label} {channel.name}: published ({policy.publish}) with "
                    "nolog_prefixes empty"
                )
    return out
