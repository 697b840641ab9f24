"""The consent and retention keys: channel tables, inheritance, errors, config check warnings,
and the publish rules the web archive asks (:mod:`logbot.policy`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from logbot.cli import main
from logbot.config import ConfigError, build_settings
from logbot.policy import (
    Access,
    ChannelPolicy,
    channel_policy,
    may_index,
    may_list,
    may_serve,
    stored_channel_policy,
    web_access,
)
from logbot.settings import ChannelConfig


def settings_of(tmp_path: Path, toml: str) -> object:
    config = tmp_path / "logbot.toml"
    config.write_text(textwrap.dedent(toml))
    return build_settings({}, str(config), {})


def test_channel_tables_and_strings_make_one_channel_list(tmp_path: Path) -> None:
    """[[network.channel]] tables join the channels strings; keys left out inherit."""
    settings = settings_of(
        tmp_path,
        """
        nolog_prefixes = ["[nolog]"]
        optout_nicks = ["Top"]
        retention_days = 90
        [[network]]
        name = "libera"
        server = "irc.libera.chat"
        channels = ["#plain", "#keyed k3y"]
        optout_nicks = ["Net"]
        publish = "unlisted"
        [[network.channel]]
        name = "#x"
        key = "xkey"
        announce = "logged: https://example.org/"
        publish = "public"
        retention-days = 30
        nolog_prefixes = []
        optout_nicks = ["Chan", "Net"]
        """,
    )
    (network,) = settings.networks  # type: ignore[attr-defined]
    assert network.channels == (
        ChannelConfig("#plain"),
        ChannelConfig("#keyed", "k3y"),
        ChannelConfig(
            "#x",
            "xkey",
            announce="logged: https://example.org/",
            publish="public",
            retention_days=30,
            nolog_prefixes=(),
            optout_nicks=("Chan", "Net"),
        ),
    )
    assert channel_policy(network, "#X") == ChannelPolicy(
        nolog_prefixes=(),
        optout_nicks=("Net", "Top", "Chan"),
        announce="logged: https://example.org/",
        publish="public",
        retention_days=30,
    )
    # opting out adds up: the network's, the top level's and the channel's
    assert channel_policy(network, "#plain") == ChannelPolicy(
        ("[nolog]",), ("Net", "Top"), None, "unlisted", 90
    )
    assert channel_policy(network, "#elsewhere") == channel_policy(network, "#plain")


def test_defaults_without_any_consent_key(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, 'server = "h"\nchannels = ["#x"]\n')
    (network,) = settings.networks  # type: ignore[attr-defined]
    assert channel_policy(network, "#x") == ChannelPolicy(
        ("[nolog]", "[off]"), (), None, "public", None
    )


def test_stored_channels_of_an_unnamed_network_get_the_top_level_values(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path,
        """
        retention_days = 10
        publish = "private"
        [[network]]
        name = "libera"
        server = "irc.libera.chat"
        channels = ["#x"]
        retention_days = 5
        """,
    )
    assert stored_channel_policy(settings, "LIBERA", "#x").retention_days == 5  # type: ignore[arg-type]
    other = stored_channel_policy(settings, "oftc", "#x")  # type: ignore[arg-type]
    assert (other.retention_days, other.publish) == (10, "private")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'channels = [{ name = "#x", publish = "secret" }]',
            'channels: #x: publish: must be one of public, unlisted, private, got "secret"',
        ),
        (
            'channels = [{ name = "#x", retention_days = 0 }]',
            "channels: #x: retention_days: must be at least 1 day, got 0",
        ),
        (
            'channels = [{ name = "#x", retention_days = "30" }]',
            'channels: #x: retention_days: must be a whole number of days, got a string "30"',
        ),
        (
            'channels = [{ name = "#x", optout_nicks = ["bad nick"] }]',
            'channels: #x: optout_nicks: "bad nick" is not a valid IRC nick (a letter or one of '
            "[]\\`_^{|} first, then letters, digits, - and those)",
        ),
        (
            'channels = [{ name = "#x", nolog_prefixes = "[nolog]" }]',
            'channels: #x: nolog_prefixes: must be an array of strings, got a string "[nolog]"',
        ),
        (
            'channels = [{ name = "#x", server = "h" }]',
            "channels: #x: server: unknown key in a channel table (it takes name, key, "
            "nolog_prefixes, optout_nicks, retention_days, publish, announce)",
        ),
        ('channels = [{ announce = "hi" }]', 'channels: a channel table needs name = "#channel"'),
        (
            'channels = ["#x", { name = "#X" }]',
            'channels: "#X" is listed twice',
        ),
        (
            'channels = ["#x"]\nannounce = "hi"',
            "announce: only allowed in a channel table ([[network.channel]])",
        ),
        (
            'channels = ["#x"]\npublish = "everyone"',
            'publish: must be one of public, unlisted, private, got "everyone"',
        ),
    ],
)
def test_bad_consent_values_are_one_line_errors(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "logbot.toml"
    config.write_text('server = "h"\n' + body + "\n")
    with pytest.raises(ConfigError) as info:
        build_settings({}, str(config), {})
    assert str(info.value) == f"{config}: {message}"


def test_config_check_warns_about_libera_policy(tmp_path: Path) -> None:
    """Published without announce, or with nolog_prefixes emptied: a warning; private: none."""
    config = tmp_path / "logbot.toml"
    config.write_text(
        textwrap.dedent(
            """
            [[network]]
            name = "libera"
            server = "irc.libera.chat"
            [[network.channel]]
            name = "#quiet"
            [[network.channel]]
            name = "#open"
            announce = "logged"
            nolog_prefixes = []
            publish = "unlisted"
            [[network.channel]]
            name = "#fine"
            announce = "logged"
            [[network.channel]]
            name = "#hidden"
            publish = "private"
            nolog_prefixes = []
            """
        )
    )
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning")]
    assert warnings == [
        f"warning: {config}: libera #quiet: published (public) without announce",
        f"warning: {config}: libera #open: published (unlisted) with nolog_prefixes empty",
    ]
    assert '  #open: announce "logged", web archive unlisted, unlogged lines start with none' in (
        result.output.splitlines()
    )


@pytest.mark.parametrize(
    ("publish", "noindex", "served", "listed", "indexed"),
    [
        ("public", False, True, True, True),
        ("public", True, True, True, False),
        ("unlisted", False, True, False, False),
        ("private", False, False, False, False),
    ],
)
def test_publish_says_what_the_web_archive_may_do(
    publish: str, noindex: bool, served: bool, listed: bool, indexed: bool
) -> None:
    assert (may_serve(publish), may_list(publish), may_index(publish, noindex)) == (
        served,
        listed,
        indexed,
    )


def test_web_access_reads_each_stored_channels_publish(tmp_path: Path) -> None:
    """The web asks per (network, channel) as stored; without settings all is public."""
    settings = settings_of(
        tmp_path,
        """
        publish = "unlisted"
        [[network]]
        name = "libera"
        server = "irc.libera.chat"
        channels = ["#open", { name = "#closed", publish = "private" }]
        publish = "public"
        """,
    )
    assert web_access(settings, "libera", "#open", False) == Access(True, True, True)  # type: ignore[arg-type]
    assert web_access(settings, "libera", "#open", True) == Access(True, True, False)  # type: ignore[arg-type]
    assert web_access(settings, "Libera", "#CLOSED", False) == Access(False, False, False)  # type: ignore[arg-type]
    assert web_access(settings, "oftc", "#any", False) == Access(True, False, False)  # type: ignore[arg-type]
    assert web_access(None, "oftc", "#any", False) == Access(True, True, True)
