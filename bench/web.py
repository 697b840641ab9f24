"""How fast the web archive answers, on the corpus bench/search.py builds.

    python bench/web.py --workdir /work/bench10m          # the 10M corpus of bench/search.py
    python bench/web.py --workdir bench/out/search-1000000 --requests 5000

Reads WORKDIR/logbot.sqlite, WORKDIR/facts.json and WORKDIR/logs/ (made by bench/search.py
with the same --workdir); writes nothing there. Reports:

1. server time (in process, warm, no HTTP): the busiest day of the busiest channel, its
   calendar, and a search page for every query class of bench/search.py; p50 and p95;
2. a closed day asked again with its ETag: 304;
3. `ab -n N -c 50` (Debian's apache2-utils) against `logbot web` on loopback for that day
   page: requests/s, failures, and the server's RSS sampled every 0.2 s (start, peak, end);
4. `logbot html` of the whole archive against irclog2html's `logs2html` over the same
   per-day text logs, into fresh directories: wall and CPU time (user + system), the two
   alternated `--rounds` times. `--build-only`: the CPU time of building the pages alone,
   in process, file writes made no-ops.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import classes, logbot_command  # type: ignore[import-not-found]
from search_corpus import load_facts  # type: ignore[import-not-found]

from logbot.web.site import Archive


def _ms(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return statistics.median(samples) * 1000, p95 * 1000


def _time(call: Any, runs: int) -> list[float]:
    call()  # warm
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def busiest(archive: Archive) -> tuple[Any, Any, int]:
    """(channel, day, events) of the busiest day of the busiest channel."""
    with archive.browser.engine.connect() as conn:
        import sqlalchemy as sa

        cid = conn.execute(
            sa.text(
                "SELECT channel_id FROM events GROUP BY channel_id ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
    chan = next(c for c in archive.channels(fresh=True) if c.id == cid)
    number, events, _, _ = max(archive.browser.utc_days(chan.id), key=lambda d: d[1])
    return chan, date(1970, 1, 1) + timedelta(days=number), events


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # ended meanwhile
        pass
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=30, help="timed runs per page")
    ap.add_argument("--requests", type=int, default=5000, help="ab requests")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--no-html", action="store_true", help="skip logbot html vs logs2html")
    ap.add_argument(
        "--html-only", action="store_true", help="only logbot html vs logs2html (part 4)"
    )
    ap.add_argument(
        "--jobs", type=int, default=0, help="logbot html --jobs [default: 0, one per CPU]"
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="logbot html / logs2html pairs to time [default: 1]"
    )
    ap.add_argument(
        "--build-only",
        action="store_true",
        help="only the CPU time logbot html spends building the pages, in this process, "
        "its file writes made no-ops (one process; --rounds times)",
    )
    args = ap.parse_args()
    db = str(args.workdir / "logbot.sqlite")
    if args.build_only:
        build_cpu(db, args.rounds)
        return
    if args.html_only:
        compare_html(db, args.workdir / "logs", args.jobs, args.rounds)
        return
    facts = load_facts(args.workdir / "facts.json")

    archive = Archive(db)
    chan, day, n = busiest(archive)
    seg = [chan.network, chan.name, day.isoformat()]
    print(f"busiest day: {chan.name} {day} ({n:,} events)")
    rows: list[tuple[str, float, float]] = []

    def rendered(query: dict[str, str]) -> Any:
        # empty the in-memory page cache first: this is the time to build the page
        archive._pages.clear()
        archive._pages_size = 0
        return archive.handle(seg, query, {})

    rows.append(("day page, rendered", *_ms(_time(lambda: rendered({}), args.runs))))
    rows.append(
        (
            "day page, joins hidden, rendered",
            *_ms(_time(lambda: rendered({"hide": "1"}), args.runs)),
        )
    )
    rows.append(
        ("day page, from memory", *_ms(_time(lambda: archive.handle(seg, {}, {}), args.runs)))
    )
    cal = [chan.network, chan.name, ""]
    archive.browser.forget_counts()
    t = time.perf_counter()
    archive.handle(cal, {}, {})
    cold = (time.perf_counter() - t) * 1000
    rows.append(
        ("calendar (warm cache)", *_ms(_time(lambda: archive.handle(cal, {}, {}), args.runs)))
    )
    text_dir = args.workdir / "logs"
    total = sum(facts.channel_counts) or 10**6
    for name, cases in classes(facts, total, text_dir).items():
        samples: list[float] = []
        for case in cases:
            q = {
                "q": case.query or "",
                "channel": ",".join(case.channels),
                "nick": ",".join(case.nicks),
                "since": case.since or "",
            }
            page = archive.handle(["search"], q, {})
            assert page.status == 200, (name, q, page.body[:300])
            samples += _time(lambda q=q: archive.handle(["search"], q, {}), max(3, args.runs // 10))
        rows.append((f"search: {name}", *_ms(samples)))
    print(f"\nserver time, in process (ms); calendar first build {cold:.0f} ms")
    print(f"{'page':34} {'p50':>8} {'p95':>8}")
    for label, p50, p95 in rows:
        print(f"{label:34} {p50:8.2f} {p95:8.2f}")

    tag = archive.handle(seg, {}, {}).etag
    assert tag is not None
    again = archive.handle(seg, {}, {"if-none-match": tag})
    print(f"\nclosed day again with its ETag: {again.status}")
    archive.close()

    # HTTP under load
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [*logbot_command(), "web", "--db", db, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from urllib.parse import quote

        net, name = quote(chan.network, safe=""), quote(chan.name, safe="")
        url = f"http://127.0.0.1:{port}/{net}/{name}/{day}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    size = len(r.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        samples_rss: list[float] = [rss_mb(server.pid)]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                samples_rss.append(rss_mb(server.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        ab = subprocess.run(
            ["ab", "-q", "-n", str(args.requests), "-c", str(args.concurrency), url],
            capture_output=True,
            text=True,
            check=False,
        )
        done.set()
        sampler.join()
        samples_rss.append(rss_mb(server.pid))
        out = ab.stdout

        def grab(pattern: str) -> str:
            m = re.search(pattern, out)
            return m.group(1) if m else "?"

        rps = grab(r"Requests per second:\s+([\d.]+)")
        failed = grab(r"Failed requests:\s+(\d+)")
        non2xx = grab(r"Non-2xx responses:\s+(\d+)") if "Non-2xx" in out else "0"
        p50, p99 = grab(r"\s50%\s+(\d+)"), grab(r"\s99%\s+(\d+)")
        print(
            f"\nab -n {args.requests} -c {args.concurrency} (page {size:,} bytes): "
            f"{rps} req/s, failed {failed}, non-2xx {non2xx}, p50 {p50} ms, p99 {p99} ms"
        )
        print(
            f"server RSS MB: start {samples_rss[0]:.0f}, peak {max(samples_rss):.0f}, "
            f"end {samples_rss[-1]:.0f}"
        )
    finally:
        server.terminate()
        server.wait(30)

    if args.no_html:
        return
    compare_html(db, text_dir, args.jobs, args.rounds)


def _timed(argvs: list[list[str]], peak: list[float] | None = None) -> tuple[float, float, float]:
    """(wall, user CPU, system CPU) seconds of running ``argvs`` in turn (their processes'
    CPU: on a shared machine wall time mostly measures the others' load, and system time
    mostly the kernel creating files, which costs 20 us to 1 ms a file here by the hour).
    ``peak``: the largest PSS (MB: resident memory, pages shared between processes
    counted once) of each process and its descendants together, sampled every 0.05 s,
    is appended to it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    for argv in argvs:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        top = 0.0
        while proc.poll() is None:
            if peak is not None:
                top = max(top, sum(pss_mb(p) for p in _tree(proc.pid)))
            time.sleep(0.05)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, argv)
        if peak is not None:
            peak.append(top)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # ended meanwhile
        pass
    return 0.0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            todo.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
    return out


def compare_html(db: str, text_dir: Path, jobs: int, rounds: int = 1) -> None:
    """``logbot html`` (fresh, then a rerun with nothing changed) against ``logs2html`` over
    the same per-day text logs, one channel directory at a time, side by side: ``rounds``
    times, the two alternated so that load on the machine moves both alike."""
    html = [*logbot_command(), "html", "--db", db, "--jobs", str(jobs)]
    logs2html = shutil.which("logs2html") or str(Path(sys.executable).with_name("logs2html"))
    chan_dirs = sorted(p for p in text_dir.iterdir() if p.is_dir())
    for n in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="logbot-html-bench-") as tmp:
            peak: list[float] = []
            ours = _timed([[*html, "--out", f"{tmp}/site"]], peak)
            rerun = _timed([[*html, "--out", f"{tmp}/site"]])
            theirs = _timed(
                [[logs2html, "-o", f"{tmp}/irclog2html/{d.name}", str(d)] for d in chan_dirs]
            )
        print(
            f"\nround {n}: logbot html --jobs {jobs}: {_shown(ours)}, peak PSS of its "
            f"processes together {peak[0]:.0f} MB (rerun, nothing changed: "
            f"{_shown(rerun)}); logs2html: {_shown(theirs)}; logs2html / logbot: "
            f"{theirs[0] / ours[0]:.1f}x wall, {theirs[1] / ours[1]:.1f}x user CPU, "
            f"{sum(theirs[1:]) / sum(ours[1:]):.1f}x user + system",
            flush=True,
        )


def build_cpu(db: str, rounds: int) -> None:
    """CPU seconds of ``write_site`` with its file writes made no-ops: what building the
    pages costs, apart from the kernel creating files (which varies by the hour here)."""
    from logbot.web import export

    export._write = lambda path, data, **_: None  # type: ignore[assignment]
    for n in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="logbot-html-build-") as tmp:
            before = os.times()
            export.write_site(db, Path(tmp), jobs=1)
            after = os.times()
        print(
            f"round {n}: logbot html pages built, not written, one process: "
            f"{after.user - before.user:.2f} s user, {after.system - before.system:.2f} s system",
            flush=True,
        )


def _shown(timed: tuple[float, float, float]) -> str:
    return f"{timed[0]:.1f} s wall, {timed[1]:.1f} s user, {timed[2]:.1f} s system"


if __name__ == "__main__":
    main()
