"""CPU per row of the SQLite bot's write path, each thread's share apart (issue #15).

    python bench/sqlwrite.py writer --src FLOOD.sqlite [--rows 200000] [--batch 3000]
    python bench/sqlwrite.py handoff [--lines 100000] [--rounds 5]

``writer``: the rows of a database a flood left (``bench/ingest.py --only logbot-sqlite
--keep-output``: ``bench/out/ingest-*/logbot-sqlite/logbot.sqlite``), read back as the
bot's rows, written through ``EventWriter`` into a new database in batches of ``--batch``
(the flood's transactions are ~4,000): what the writer thread costs a row. ``--rows 0``
does everything but the writes: under ``valgrind --tool=callgrind`` (PYTHONHASHSEED=0),
the difference between the two runs over the rows is the writer's instructions a row.

``handoff``: the lines of ``bench/protocol.py`` (tags stripped: the flood sends none)
parsed into events first, then timed through ``FanOut.write`` -> ``SQLBackend.write`` with
the writer never started: what the reactor thread costs an event besides the protocol.
``--rounds 1 --nofeed`` under callgrind gives the instructions to subtract.

Run with another checkout's venv python to measure that checkout's logbot (this script
uses only what main at 0032ba7 has).
"""

from __future__ import annotations

import argparse
import gc
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))


def writer(args: argparse.Namespace) -> None:
    from logbot.storage import migrate
    from logbot.storage.engine import make_engine
    from logbot.storage.writer import EventWriter

    src = sqlite3.connect(args.src)
    sql = (
        "SELECT e.id, c.network, c.name, kind, nick, text, target, userhost, own, "
        "received_us, msgid, backfilled FROM events AS e JOIN channels AS c "
        "ON c.id = e.channel_id ORDER BY e.id LIMIT ?"
    )
    rows = [
        (*r[:8], bool(r[8]), r[9], r[10], bool(r[11]))
        for r in src.execute(sql, (max(args.rows, 100_000),))
    ]
    src.close()
    engine = make_engine(str(Path(tempfile.mkdtemp()) / "w.sqlite"))
    migrate.upgrade(engine)
    out = EventWriter(engine, upgrade=False)
    started = time.process_time()
    for i in range(0, args.rows, args.batch):
        out.write(rows[i : min(i + args.batch, args.rows)])
    cpu = time.process_time() - started
    out.close()
    engine.dispose()
    if args.rows:
        print(f"writer: {cpu / args.rows * 1e6:.2f} us/row CPU, batches of {args.batch}")


def handoff(args: argparse.Namespace) -> None:
    from twisted.internet import task

    from bench.protocol import chunks, registered, stream
    from logbot.backends import sql
    from logbot.backends.base import BackendOptions, FanOut
    from logbot.backends.sqlstate import State

    events: list[object] = []
    proto, _ = registered(events.append)
    events.clear()
    for chunk in chunks(re.sub(rb"(?m)^@\S+ ", b"", stream(args.lines))):
        proto.dataReceived(chunk)
    tmp = Path(tempfile.mkdtemp())
    times = []
    for r in range(args.rounds):
        options = BackendOptions(reactor=task.Clock())
        backend = sql.create(
            str(tmp / f"{r}.sqlite"), options, pool=object(), spool_dir=tmp / f"spool{r}"
        )
        # the writer never runs: only the reactor's side is timed
        backend.state = State.WRITING
        backend._max_memory = backend._batch_size = 1 << 40
        write = FanOut([backend]).write
        gc.collect()
        started = time.process_time()
        if not args.nofeed:
            for event in events:
                write(event)  # type: ignore[arg-type]
        times.append(time.process_time() - started)
    print(f"handoff: {min(times) / len(events) * 1e6:.3f} us/event CPU (best of {args.rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("writer")
    w.add_argument("--src", required=True, help="a database a flood left")
    w.add_argument("--rows", type=int, default=200_000)
    w.add_argument("--batch", type=int, default=3_000)
    h = sub.add_parser("handoff")
    h.add_argument("--lines", type=int, default=100_000)
    h.add_argument("--rounds", type=int, default=5)
    h.add_argument("--nofeed", action="store_true")
    args = parser.parse_args()
    writer(args) if args.what == "writer" else handoff(args)


if __name__ == "__main__":
    main()
