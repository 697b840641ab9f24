"""Does a retention prune hold the writer back? Writer commit latency while it deletes.

    python bench/prune.py /tmp/prune.sqlite
    python bench/prune.py postgresql+psycopg://postgres@127.0.0.1:5432/prune_bench  # existing db

Stores --rows events 60 days old, then twice for a while writes 100 live rows every 250 ms
(as the bot's writer does) and prints the median and worst commit time: once idle, once
while :func:`logbot.storage.forget.prune` deletes every old event in its batches with the
running bot's pause between them.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime, timedelta

from logbot.events import Event, Kind
from logbot.retention import PAUSE
from logbot.storage import migrate
from logbot.storage.engine import make_engine
from logbot.storage.forget import prune
from logbot.storage.rows import KeyAllocator, Row, event_row
from logbot.storage.writer import EventWriter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="SQLite path or URL (an empty database)")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    engine = make_engine(args.db)
    migrate.upgrade(engine)
    writer = EventWriter(engine, upgrade=False)
    keys = KeyAllocator()

    def row(when: datetime, nick: str, text: str) -> Row:
        return event_row(Event(when, "net", "#x", Kind.MESSAGE, nick, text), keys.key_for(when))

    old = datetime.now(UTC) - timedelta(days=60)
    rows = [
        row(old + timedelta(seconds=i), "alice", f"old line {i} with words")
        for i in range(args.rows)
    ]
    for start in range(0, len(rows), 5000):
        writer.write(rows[start : start + 5000])

    def live(stop: threading.Event, out: list[float]) -> None:
        while not stop.is_set():
            batch = [row(datetime.now(UTC), "bob", "live line") for _ in range(100)]
            began = time.perf_counter()
            writer.write(batch)
            out.append(time.perf_counter() - began)
            time.sleep(0.25)

    for pruning in (False, True):
        stop, latencies = threading.Event(), []
        thread = threading.Thread(target=live, args=(stop, latencies))
        thread.start()
        began = time.perf_counter()
        deleted = 0
        if pruning:
            cutoff = datetime.now(UTC) - timedelta(days=30)
            deleted = prune(engine, lambda _n, _c, at=cutoff: at, pause=PAUSE).total
        else:
            time.sleep(8)
        took = time.perf_counter() - began
        stop.set()
        thread.join()
        latencies.sort()
        print(
            f"{'prune' if pruning else 'idle'}: {deleted} deleted in {took:.1f} s; "
            f"writer commits of 100 rows: {len(latencies)}, median "
            f"{1000 * latencies[len(latencies) // 2]:.1f} ms, max {1000 * latencies[-1]:.1f} ms"
        )
    writer.close()
    engine.dispose()


if __name__ == "__main__":
    main()
