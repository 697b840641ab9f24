"""Foreign text logs vs JSON lines: ``logbot import`` rate and peak RSS on one corpus.

    python -m bench.import_formats [--events 1000000] [--workdir DIR] [--keep]

Writes the :mod:`bench.search_corpus` events twice, as JSON lines and as ZNC ``log``
module per-day files (``znc/<network>/<#channel>/<YYYY-MM-DD>.log``, times in UTC), then
imports each into a fresh SQLite database with the real ``logbot import`` command (a
child process each; ``--tz UTC`` for the ZNC files) and prints lines/s, the ratio, and
each import's peak RSS (``wait4``'s ``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from bench.search_corpus import Corpus, _text_line

NETWORK = "benchnet"


def write(corpus: Corpus, jsonl: Path, znc: Path) -> int:
    """The corpus as JSON lines and as ZNC per-day files; the number of events."""
    import json

    dumps = json.JSONEncoder(ensure_ascii=False).encode
    handles: dict[str, tuple[str, IO[str]]] = {}
    count = 0
    with jsonl.open("w", encoding="utf-8") as out:
        for ev in corpus.events():
            count += 1
            out.write(dumps(ev) + "\n")
            chan, day = ev["channel"], ev["time"][:10]
            current = handles.get(chan)
            if current is None or current[0] != day:
                if current is not None:
                    current[1].close()
                folder = znc / NETWORK / chan
                folder.mkdir(parents=True, exist_ok=True)
                current = handles[chan] = (
                    day,
                    (folder / f"{day}.log").open("a", encoding="utf-8"),
                )
            current[1].write(_text_line(ev))
    for _, handle in handles.values():
        handle.close()
    return count


def run_import(db: Path, *args: str) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the summary line of one ``logbot import``."""
    cmd = [sys.executable, "-m", "logbot", "import", "--db", str(db), *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{err}")
    return elapsed, usage.ru_maxrss / 1024, err.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the corpus and databases")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="logbot-import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    jsonl, znc = work / "corpus.jsonl", work / "znc"
    try:
        if not jsonl.exists():
            start = time.perf_counter()
            n = write(Corpus(args.events), jsonl, znc)
            print(f"corpus: {n:,} events in {time.perf_counter() - start:.0f} s ({work})")
        else:
            n = args.events
        files = sum(1 for _ in znc.rglob("*.log"))
        results = {}
        for name, source, extra in (
            ("JSON lines", jsonl, ()),
            (f"ZNC per-day files ({files:,})", znc, ("--tz", "UTC")),
        ):
            db = work / f"{'jsonl' if source is jsonl else 'znc'}.sqlite"
            for stale in work.glob(db.name + "*"):
                stale.unlink()
            seconds, rss, summary = run_import(db, *extra, str(source))
            results[name] = n / seconds
            print(f"{name}: {seconds:.1f} s, {n / seconds:,.0f} lines/s, peak RSS {rss:.0f} MB")
            print(f"    {summary}")
        rates = list(results.values())
        print(f"ZNC / JSON lines rate: {rates[1] / rates[0]:.2f}")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
