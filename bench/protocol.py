"""Per-line CPU of the IRC protocol: channel PRIVMSG lines through the real ``dataReceived``.

100,000 channel lines (~95% PRIVMSG, ~5% ACTION; half of them with IRCv3 tags: ``time``
and ``msgid``, some ``account`` too) go into ``LogBotProtocol.dataReceived`` in 16 KiB
chunks cut anywhere (as a socket hands them over), on a ``StringTransport`` with time on a
``task.Clock``; every event goes to a sink that does nothing. The protocol is registered
first over the wire (``server-time`` and ``message-tags`` acknowledged, 001, 005, its
JOIN and NAMES), outside the timing. Reported: CPU µs per line (``time.process_time``),
best of ``--rounds`` rounds, each on a fresh protocol.

    python bench/protocol.py                          # this checkout (the logbot imported)
    python bench/protocol.py --rounds 30 --lines 50000
    /work/wt/base-protocol/.venv/bin/python bench/protocol.py   # another checkout's logbot
    python bench/protocol.py --compare /work/wt/base-protocol   # both, rounds alternated
    python bench/protocol.py --compare /work/wt/base-protocol --instructions

Run with another checkout's venv python (or ``PYTHONPATH=CHECKOUT``), the script measures
that checkout's protocol: only what every version since e3e83a8 has is used (the
constructor ``LogBotProtocol(network, sink, clock)``, the wire). ``--compare CHECKOUT``
runs this script in both interpreters as child processes, alternating, so a noisy machine
moves both alike, and prints the ratio. ``--instructions`` counts instructions instead of
timing (``valgrind --tool=callgrind``, ``--lines`` small as it is ~50x slower): one run
feeding the lines, one run doing everything but feeding them; the difference per line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.testing import StringTransport

CHANNEL = "#bench"
NICK = "logbot"
USERS = 300
#: the clock's time: a realistic epoch, so server-time stamps are plausible next to it
EPOCH = 1_800_000_000.0
CHUNK = 16 * 1024
SEED = 2026

#: words of the lines (a few non-ASCII ones, so decoding is UTF-8 work too)
_TEXT = (
    "the of and to in is it you that was for on are with as be at one have this from or "
    "had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would "
    "like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side "
    "been now find any new work part take get place made live where after back little "
    "only round man year came show every good me give our under name very through just "
    "форма привет über café naïve 日本語 😀"
)
WORDS: tuple[str, ...] = tuple(_TEXT.split())


def stream(lines: int, seed: int = SEED) -> bytes:
    """``lines`` channel lines as the server sends them, CRLF-terminated."""
    rng = random.Random(seed)
    nicks = [f"user{i:03d}" for i in range(USERS)]
    out = []
    for i in range(lines):
        nick = rng.choice(nicks)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        text = f"\x01ACTION {words}\x01" if rng.random() < 0.05 else words
        body = f":{nick}!~{nick}@host-{nick}.example.net PRIVMSG {CHANNEL} :{text}"
        if i % 2:
            stamp = datetime.fromtimestamp(EPOCH - 30 + i * 0.001, UTC)
            tags = f"time={stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}Z"
            tags += f";msgid=Zm9vYmFy{i:08x}"
            if i % 6 == 1:
                tags = f"account={nick};" + tags
            body = f"@{tags} {body}"
        out.append(body)
    return ("\r\n".join(out) + "\r\n").encode()


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _discard(event: object) -> None:
    pass


def registered(sink: Callable[[Any], None]) -> tuple[Any, StringTransport]:
    """A protocol signed on and in ``CHANNEL`` with every bench nick, over the wire."""
    from logbot.irc.protocol import LogBotProtocol

    try:
        from logbot.settings import ChannelConfig, NetworkConfig
    except ImportError:  # e3e83a8 and before: the same types in logbot.config
        from logbot.config import ChannelConfig, NetworkConfig  # type: ignore[no-redef]

    clock = task.Clock()
    clock.advance(EPOCH)
    network = NetworkConfig(server="irc.bench.test", channels=(ChannelConfig(CHANNEL),), nick=NICK)
    proto = LogBotProtocol(network, sink, clock)
    transport = StringTransport()
    proto.makeConnection(transport)

    def feed(*lines: str) -> None:
        proto.dataReceived("".join(line + "\r\n" for line in lines).encode())

    feed(":irc.bench.test CAP * LS :server-time message-tags account-tag batch")
    sent = transport.value().decode()
    for asked in re.findall(r"^CAP REQ :(.*)\r$", sent, re.M):
        feed(f":irc.bench.test CAP * ACK :{asked}")
    feed(
        f":irc.bench.test 001 {NICK} :Welcome",
        f":irc.bench.test 005 {NICK} CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=rfc1459 "
        "NETWORK=Bench :are supported by this server",
        f":irc.bench.test 376 {NICK} :End of MOTD",
        f":{NICK}!~{NICK}@bench.example.net JOIN {CHANNEL}",
    )
    names = [f"user{i:03d}" for i in range(USERS)]
    for i in range(0, USERS, 50):
        feed(f":irc.bench.test 353 {NICK} = {CHANNEL} :{' '.join(names[i : i + 50])}")
    feed(f":irc.bench.test 366 {NICK} {CHANNEL} :End of NAMES")
    clock.advance(60)  # the JOIN and anything paced go out
    assert "server-time" in proto.caps, f"server-time not negotiated: {sent!r}"
    assert proto.is_joined(CHANNEL) if hasattr(proto, "is_joined") else True
    transport.clear()
    return proto, transport


def check(lines: int = 600) -> None:
    """The protocol under test turns every line into one event with the server's time."""
    events: list[Any] = []
    proto, transport = registered(events.append)
    events.clear()
    for chunk in chunks(stream(lines)):
        proto.dataReceived(chunk)
    said = [e for e in events if str(e.kind) in ("message", "action")]
    assert len(said) == lines, f"{len(said)} events from {lines} lines"
    stamped = [e for e in said if e.received is not None]
    assert len(stamped) == lines // 2, f"{len(stamped)} events with a server time"
    assert not transport.disconnecting


def measure(lines: int, rounds: int, feed: bool = True) -> list[float]:
    """CPU seconds of each round's ``dataReceived`` calls."""
    data = chunks(stream(lines))
    times = []
    for _ in range(rounds):
        proto, transport = registered(_discard)
        gc.collect()
        started = time.process_time()
        if feed:
            for chunk in data:
                proto.dataReceived(chunk)
        times.append(time.process_time() - started)
        assert not transport.disconnecting
    return times


def which() -> str:
    import logbot

    return str(Path(logbot.__file__).resolve().parent.parent)


def child(python: str, checkout: Path | None, args: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    out = subprocess.run(
        [python, __file__, "--json", *args], env=env, check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def instructions(python: str, checkout: Path | None, lines: int) -> float:
    """Instructions per line under callgrind: a run feeding minus a run not feeding."""
    counts = []
    for feed in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "cg.out"
            # a fixed hash seed: set and dict layouts (and so the count) the same each run
            env = dict(os.environ, PYTHONHASHSEED="0")
            if checkout is not None:
                env["PYTHONPATH"] = str(checkout)
            run = [python, __file__, "--lines", str(lines), "--rounds", "1", "--no-check"]
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *run]
                + ([] if feed else ["--no-feed"]),
                env=env,
                check=True,
                capture_output=True,
            )
            summary = next(
                line for line in out.read_text().splitlines() if line.startswith("summary:")
            )
            counts.append(int(summary.split()[1]))
    return (counts[0] - counts[1]) / lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--compare", type=Path, help="another checkout with its own .venv")
    parser.add_argument("--repeat", type=int, default=5, help="alternations with --compare")
    parser.add_argument("--instructions", action="store_true", help="callgrind, with --compare")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-feed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.compare is not None:
        other = args.compare.resolve()
        python = other / ".venv" / "bin" / "python"
        if not python.exists():
            print(f"bench/protocol.py: no {python}", file=sys.stderr)
            return 2
        mine = (sys.executable, None)
        theirs = (str(python), other)
        if args.instructions:
            lines = min(args.lines, 20_000)
            a = instructions(*mine, lines)
            b = instructions(*theirs, lines)
            print(f"this checkout ({which()}): {a:,.0f} instructions/line")
            print(f"{other}: {b:,.0f} instructions/line")
            print(f"ratio this/other: {a / b:.3f} ({lines:,} lines, callgrind)")
            return 0
        best: dict[str, float] = {}
        part = ["--lines", str(args.lines), "--rounds", str(args.rounds)]
        for i in range(args.repeat):
            for name, (py, checkout) in (("this", mine), ("other", theirs)):
                result = child(py, checkout, part)
                best[name] = min(best.get(name, float("inf")), result["best_us"])
                print(f"  {i + 1}/{args.repeat} {name:5} {result['best_us']:.3f} µs/line")
        print(f"this checkout ({which()}): {best['this']:.3f} µs/line")
        print(f"{other}: {best['other']:.3f} µs/line")
        print(f"ratio this/other: {best['this'] / best['other']:.3f} (best of each)")
        return 0

    if not args.no_check:
        check()
    times = measure(args.lines, args.rounds, feed=not args.no_feed)
    best_us = min(times) / max(args.lines, 1) * 1e6
    if args.json:
        print(json.dumps({"logbot": which(), "best_us": best_us, "lines": args.lines}))
    else:
        median = sorted(times)[len(times) // 2] / max(args.lines, 1) * 1e6
        print(
            f"{which()}: {best_us:.3f} µs/line CPU, best of {args.rounds} rounds "
            f"(median {median:.3f}), {args.lines:,} lines"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
