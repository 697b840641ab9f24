"""Summarise a py-spy ``--format raw`` profile: where the time per message goes.

    python bench/pyspy_summary.py PROFILE.txt [--us-per-msg 16.9] [--top 25] [--idle]

Each line of a raw profile is ``frame;frame;...;frame COUNT`` (outermost first). This prints,
per function, its *self* share (samples where it is the innermost frame) and its *inclusive*
share (samples where it is anywhere on the stack), and, given the measured CPU µs per message
(``bench/ingest.py`` reports it), the µs per message each share stands for. Samples of an
idle reactor (the innermost frame is epoll/select polling) are left out unless ``--idle``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_IDLE = re.compile(r"^(poll|doPoll|_doReadOrWrite|select|epoll)\b|\(selectors\.py\)|epollreactor")
# py-spy names a frame "function (module/path.py:line)"; the line number splits a function
_LINE = re.compile(r":\d+\)$")


def _frame_name(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


@dataclass
class Summary:
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    #: samples per thread (profiles recorded with ``--threads``)
    threads: Counter[str] = field(default_factory=Counter)
    total: int = 0
    idle: int = 0


def summarise(path: Path, *, include_idle: bool = False) -> Summary:
    """Self and inclusive samples per function, samples per thread, idle samples left out."""
    summary = Summary()
    own, inclusive, threads = summary.own, summary.inclusive, summary.threads
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        # with --threads the first frame names the thread ("thread (0x...)", "process N:...")
        thread = "all"
        while frames and frames[0].startswith(("process ", "thread ")):
            thread = frames.pop(0)
        if not frames:
            continue
        if not include_idle and (_IDLE.search(frames[-1]) or "poll (" in frames[-1]):
            idle += count
            continue
        total += count
        threads[thread] += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    summary.total, summary.idle = total, idle
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--us-per-msg", type=float, help="CPU µs per message measured")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--idle", action="store_true", help="count idle reactor samples too")
    args = parser.parse_args()
    summary = summarise(args.profile, include_idle=args.idle)
    total = summary.total
    if not total:
        raise SystemExit("no samples")
    scale = (args.us_per_msg or 0) / total

    def show(title: str, counts: Counter[str]) -> None:
        print(f"\n{title}")
        for name, count in counts.most_common(args.top):
            share = 100 * count / total
            us = f"{count * scale:6.2f} µs/msg  " if scale else ""
            print(f"  {share:5.1f}%  {us}{name}")

    print(f"{total} busy samples ({summary.idle} idle samples left out)")
    show("threads:", summary.threads)
    show("self (innermost frame):", summary.own)
    show("inclusive (anywhere on the stack):", summary.inclusive)


if __name__ == "__main__":
    main()
