"""The ``[web]`` table: the real ``logbot --config`` logs a channel on ngircd and serves
the archive's pages from the same process, over loopback, while it goes on logging."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.conftest import (
    HOST,
    IRCClient,
    LogBot,
    Ngircd,
    free_port,
    wait_for,
)

BOT_START = 30.0


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")
    except OSError:
        return 0, ""


def test_the_bot_serves_a_day_page_while_it_logs(
    ngircd: Ngircd,
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """A line said in the channel shows on today's page served by the bot itself, and lines
    said after a page was read are logged and shown too (the writer is never blocked)."""
    alice = irc_client("alice")
    alice.join("#web")
    web_port = free_port()
    config = tmp_path / "logbot.toml"
    config.write_text(
        f'server = "{HOST}"\nport = {ngircd.port}\nchannels = ["#web"]\n'
        f'db = "{tmp_path / "logbot.sqlite"}"\n'
        f'[web]\nlisten = "{HOST}:{web_port}"\ntitle = "Bot pages"\n'
    )
    bot = logbot_run("--config", str(config))
    alice.expect("JOIN", nick="logbot", target="#web", timeout=BOT_START)
    assert f"web pages on http://{HOST}:{web_port}/" in bot.stderr()

    home = fetch(f"http://{HOST}:{web_port}/")
    assert home[0] == 200
    assert "Bot pages" in home[1]
    day = datetime.now(UTC).date().isoformat()
    # ngircd announces NETWORK=LogbotTest: the records are stored under that name
    page_url = f"http://{HOST}:{web_port}/LogbotTest/%23web/{day}.html"
    for n in range(1, 6):
        alice.privmsg("#web", f"line {n} while the page is read")
        body = wait_for(
            lambda n=n: (
                (page := fetch(page_url))[0] == 200
                and f"line {n} while the page is read" in page[1]
                and page[1]
            ),
            15,
            f"line {n} on {page_url}",
            interval=0.1,
        )
        assert all(f"line {k} while the page is read" in body for k in range(1, n + 1))
    text = fetch(f"http://{HOST}:{web_port}/LogbotTest/%23web/{day}.txt")
    assert text[0] == 200
    assert "<alice> line 5 while the page is read" in text[1]
    bot.proc.send_signal(signal.SIGTERM)
    assert bot.proc.wait(timeout=30) == 0
    assert fetch(f"http://{HOST}:{web_port}/")[0] == 0
