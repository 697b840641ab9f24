"""Does the bot's memory stay flat over a long run? 1,000,000 events, measured.

Raw IRC wire lines go into the real protocol (``LogBotFactory`` -> ``LogBotProtocol`` on a
``StringTransport``, time on a ``task.Clock``) and every event it emits into the real text-file
backend. The stream churns what could leak: users joining, parting, quitting and changing nick
(the roster), strangers whispering (the reply limiter), mentions (the reply queue), server PINGs,
cp1251 lines. RSS is sampled as it runs; the growth from after a warm-up to the end must stay
under the limit (10 MB by default).

    python bench/memory.py                      # 1,000,000 events
    python bench/memory.py --events 200000 --limit-mb 10

Exit status 0 when the growth is under the limit, 1 when it is not.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from twisted.internet import task
from twisted.internet.testing import StringTransport

from logbot.backends.base import BackendOptions
from logbot.backends.textfile import create as create_textfile
from logbot.events import RECORD_KINDS, Event
from logbot.irc.factory import LogBotFactory
from logbot.settings import ChannelConfig, NetworkConfig

SERVER = "irc.bench.test"
CHANNEL = "#bench"
USERS = 200
#: events before the baseline RSS is taken: imports, caches and buffers settle first
WARMUP_EVENTS = 20_000
#: simulated time per wire line: 1M events span a few hours of a very busy channel
SECONDS_PER_LINE = 0.01
LINES_PER_CHUNK = 64
#: a server PING about every two simulated minutes, as real servers do (each PONG waits for
#: the bot's output token bucket, one line per two seconds: PINGs faster than that would
#: only measure the queue of PONGs)
PING_EVERY = int(120 / SECONDS_PER_LINE)


def rss_bytes() -> int:
    """The resident set size now (Linux /proc), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def registration() -> list[bytes]:
    names = " ".join(["@logbot", *(f"user{i}" for i in range(USERS))])
    return [
        f":{SERVER} 001 logbot :Welcome to the bench network logbot".encode(),
        f":{SERVER} 005 logbot NETWORK=Bench CHANTYPES=# PREFIX=(ov)@+ :are supported".encode(),
        f":{SERVER} 376 logbot :End of MOTD".encode(),
        f":logbot!bot@bench.test JOIN {CHANNEL}".encode(),
        f":{SERVER} 332 logbot {CHANNEL} :the bench topic".encode(),
        f":{SERVER} 353 logbot = {CHANNEL} :{names}".encode(),
        f":{SERVER} 366 logbot {CHANNEL} :End of NAMES".encode(),
    ]


def stream() -> Iterator[bytes]:
    """An endless busy channel: every kind of event, and churn in everything that is keyed."""
    nicks = [f"user{i}" for i in range(USERS)]
    n = 0
    while True:
        n += 1
        i = n % USERS
        who = nicks[i]
        src = f":{who}!{who}@host{i}.bench.test"
        step = n % 24
        if step < 14:
            yield f"{src} PRIVMSG {CHANNEL} :message {n} from {who}: the quick brown fox".encode()
        elif step == 14:
            yield f"{src} PRIVMSG {CHANNEL} :\x01ACTION waves at number {n}\x01".encode()
        elif step == 15:
            yield f"{src} NOTICE {CHANNEL} :notice {n}".encode()
        elif step == 16:
            guest = f"guest{n}"
            yield f":{guest}!g@guest.bench.test JOIN {CHANNEL}".encode()
            yield f":{guest}!g@guest.bench.test PART {CHANNEL} :passing by".encode()
        elif step == 17:
            guest = f"quitter{n}"
            yield f":{guest}!q@guest.bench.test JOIN :{CHANNEL}".encode()
            yield f":{guest}!q@guest.bench.test QUIT :Quit: bye {n}".encode()
        elif step == 18:
            new = f"u{i}n{n}"
            yield f"{src} NICK :{new}".encode()
            nicks[i] = new
        elif step == 19:
            yield f"{src} TOPIC {CHANNEL} :topic number {n}".encode()
        elif step == 20:
            flag = "+v" if n % 2 else "-v"
            yield f":{SERVER} MODE {CHANNEL} {flag} {who}".encode()
        elif step == 21:
            yield f":stranger{n}!s@far.bench.test PRIVMSG logbot :psst {n}".encode()
        elif step == 22:
            yield f"{src} PRIVMSG {CHANNEL} :logbot: are you there? {n}".encode()
        else:
            yield f"{src} PRIVMSG {CHANNEL} :".encode() + f"cp1251 {n} Привет".encode("cp1251")
        if n % PING_EVERY == 0:
            yield f"PING :{SERVER}".encode()


@dataclass
class Result:
    events: int
    seconds: float
    baseline_rss: int
    final_rss: int
    samples: list[tuple[int, int]] = field(default_factory=list)

    @property
    def growth(self) -> int:
        return self.final_rss - self.baseline_rss


class Counter:
    """The sink: counts the events a text log writes and hands each to the backend."""

    def __init__(self, write: Callable[[Event], None]) -> None:
        self.count = 0
        self._write = write

    def __call__(self, event: Event) -> None:
        if event.kind not in RECORD_KINDS:  # the lines a text log writes
            self.count += 1
        self._write(event)


def run(
    events: int, directory: Path, sample_every: int = 100_000, report: Callable[[str], None] = print
) -> Result:
    """Feed wire lines until ``events`` events reached the text file; RSS before and after."""
    clock = task.Clock()
    clock.advance(1_800_000_000)  # a realistic epoch, so timestamps format like real ones
    backend = create_textfile(str(directory / "memory.log"), BackendOptions(reactor=clock))
    sink = Counter(backend.write)
    network = NetworkConfig(
        server=SERVER, channels=(ChannelConfig(CHANNEL),), nick="logbot", ping_interval=60.0
    )
    factory = LogBotFactory(network, sink, clock)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"\r\n".join(registration()) + b"\r\n")

    lines = stream()
    baseline: int | None = None
    samples: list[tuple[int, int]] = []
    next_sample = WARMUP_EVENTS
    started = time.perf_counter()
    while sink.count < events:
        chunk = [next(lines) for _ in range(LINES_PER_CHUNK)]
        protocol.dataReceived(b"\r\n".join(chunk) + b"\r\n")
        clock.advance(SECONDS_PER_LINE * LINES_PER_CHUNK)  # flushes, PINGs, reply pacing
        transport.clear()  # what the bot sent (PONGs, replies): the real socket drains it
        if sink.count >= next_sample:
            gc.collect()
            rss = rss_bytes()
            if baseline is None:
                baseline = rss
                report(f"baseline after {sink.count:,} events: {rss / 2**20:.1f} MiB")
            else:
                report(
                    f"{sink.count:>10,} events: RSS {rss / 2**20:.1f} MiB "
                    f"({(rss - baseline) / 2**20:+.2f} MiB)"
                )
            samples.append((sink.count, rss))
            next_sample = (sink.count // sample_every + 1) * sample_every
    elapsed = time.perf_counter() - started
    backend.close()
    # a bot that dropped its connection would stop handling lines: the figures would lie
    assert not transport.disconnecting, "the protocol closed the connection during the run"
    gc.collect()
    final = rss_bytes()
    assert baseline is not None, "fewer events than the warm-up"
    return Result(sink.count, elapsed, baseline, final, samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--limit-mb", type=float, default=10.0)
    parser.add_argument("--dir", type=Path, default=None, help="where the text log goes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="logbot-memory-") as tmp:
        directory = args.dir or Path(tmp)
        result = run(args.events, directory)
        size = (directory / "memory.log").stat().st_size
    growth_mb = result.growth / 2**20
    print(
        f"{result.events:,} events in {result.seconds:.1f} s "
        f"({result.events / result.seconds:,.0f} events/s through protocol + text file; "
        f"log {size / 2**20:.0f} MiB)"
    )
    print(
        f"RSS {result.baseline_rss / 2**20:.1f} MiB after warm-up -> "
        f"{result.final_rss / 2**20:.1f} MiB at the end: growth {growth_mb:+.2f} MiB "
        f"(limit {args.limit_mb:g} MiB)"
    )
    return 0 if growth_mb < args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
