"""The bot's own log on stderr: one ``TIME LEVEL namespace: message`` line per event.

``--log-level`` filters it; an expected failure (a closed port here; a refused TLS
certificate in test_service_tls) is one readable line and never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.integration.conftest import (
    HOST,
    LOG_EVENT,
    IRCClient,
    LogBot,
    Ngircd,
    free_port,
    log_line,
)

BOT_START = 30.0


def stderr_lines(bot: LogBot) -> list[str]:
    return bot.stderr().splitlines()


def test_a_closed_port_is_one_warning_line_and_a_planned_retry(
    logbot_run: Callable[..., LogBot],
) -> None:
    """Connection refused: one WARN line (shown even at --log-level warn) and no exit."""
    port = free_port()
    bot = logbot_run(
        *("--server", HOST, "--port", str(port), "--channel", "#x", "--file", "log.txt"),
        *("--log-level", "warn"),
    )
    what = f"cannot connect to {HOST}:{port}: Connection was refused by other side"

    line = bot.wait_for_stderr(what, BOT_START)
    assert LOG_EVENT.match(line), line
    assert " WARN logbot.irc: " in line
    assert re.search(r"; reconnecting in \d+\.\d s$", line), line
    assert bot.running
    # at warn, the failures are all there is: no "connecting to", no "reconnecting (attempt"
    assert all(" WARN " in line and LOG_EVENT.match(line) for line in stderr_lines(bot))


def test_log_level_warn_hides_connection_info_that_info_shows(
    ngircd: Ngircd,
    logbot: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
) -> None:
    """Two bots on one server: at warn, nothing of a healthy session; at info, each step."""
    alice = irc_client("alice")
    alice.join("#x")
    quiet = logbot("--log-level", "warn", nick="quietbot")
    chatty = logbot("--log-level", "info", nick="chattybot")
    for nick in ("quietbot", "chattybot"):
        alice.expect("JOIN", nick=nick, timeout=BOT_START)
    alice.privmsg("#x", "both hear this")
    for bot in (quiet, chatty):
        bot.wait_for_log(log_line("<alice> both hear this"))
    assert quiet.terminate() == 0
    assert chatty.terminate() == 0

    assert stderr_lines(quiet) == []
    info = stderr_lines(chatty)
    for line in info:
        assert LOG_EVENT.match(line), line
    where = f"{HOST}:{ngircd.port}"
    # the network's label is the host until ISUPPORT names it (NETWORK=LogbotTest)
    for step in (
        f"INFO logbot.service: connecting to {where}",
        f"INFO logbot.irc: {HOST}: connected to {where}; registering as chattybot",
        f"INFO logbot.irc: {HOST}: signed on to irc.logbot.test as chattybot",
        "INFO logbot.irc: LogbotTest: joined #x",
        "INFO logbot.service: shutting down: sending QUIT to 1 network(s)",
        "INFO logbot.service: all events flushed; exiting",
        f"INFO logbot.irc: LogbotTest: disconnected from {where}: quit: logbot shutting down",
    ):
        # exactly the whole line after its time stamp, exactly once
        assert [line.split(" ", 1)[1] for line in info].count(step) == 1, step
