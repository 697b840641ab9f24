"""Start-up benchmark: `logbot search` and `--help` against the floor they cannot go below.

The floor is `python -c "import sqlite3, click"` (what any click command reading SQLite
imports). The commands run interleaved, round after round, so load on the machine moves
them alike; medians of wall time and of the child's CPU time (user + system) are printed,
and each over the floor:

    python bench/startup.py --db some.sqlite              # 20 rounds
    python bench/startup.py --db some.sqlite --logbot /other/venv/bin/logbot

Issue #15's target: `logbot search` within 25 ms of the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: issue #15: `logbot search`, end to end, within this of the floor
OVER_FLOOR_MAX_MS = 25.0

# An installed logbot runs from compiled bytecode; this environment may forbid writing it
# (PYTHONDONTWRITEBYTECODE), which would make every run recompile logbot's modules.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", required=True, help="a logbot SQLite database to search")
    ap.add_argument("--query", default="hello")
    ap.add_argument("--rounds", type=int, default=20)
    default_logbot = Path(sys.executable).with_name("logbot")
    ap.add_argument("--logbot", default=str(default_logbot), help="the logbot command")
    args = ap.parse_args()

    commands = {
        "floor": [sys.executable, "-c", "import sqlite3, click"],
        "search": [args.logbot, "search", args.query, "--db", args.db, "--limit", "5"],
        "search --help": [args.logbot, "search", "--help"],
        "--help": [args.logbot, "--help"],
    }
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # once first: bytecode written, files in the page cache
        subprocess.run(argv, capture_output=True, env=_ENV, check=False)
    for _ in range(args.rounds):
        for name, argv in commands.items():
            cpu0, t0 = _children_cpu(), time.perf_counter()
            subprocess.run(argv, capture_output=True, env=_ENV, check=False)
            wall[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((_children_cpu() - cpu0) * 1000)

    floor_wall, floor_cpu = statistics.median(wall["floor"]), statistics.median(cpu["floor"])
    print(f"{args.rounds} interleaved rounds; {args.logbot}; load {os.getloadavg()[0]:.1f}")
    print(f"{'command':14} {'wall ms':>8} {'over floor':>10} {'CPU ms':>8} {'over floor':>10}")
    for name in commands:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:14} {w:8.1f} {w - floor_wall:+10.1f} {c:8.1f} {c - floor_cpu:+10.1f}")
    over = statistics.median(wall["search"]) - floor_wall
    verdict = "met" if over <= OVER_FLOOR_MAX_MS else "NOT met"
    print(
        f"logbot search: +{over:.1f} ms over the floor, "
        f"{statistics.median(wall['search']) / floor_wall:.2f}x it "
        f"(target: +{OVER_FLOOR_MAX_MS:.0f} ms): {verdict}"
    )


if __name__ == "__main__":
    main()
