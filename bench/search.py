"""Search benchmark: query time per class on SQLite and PostgreSQL, `logbot search` end to
end, ripgrep over the same corpus as per-day text files, and the import rate.

    python bench/search.py                      # 10,000,000 events (long: generate + import)
    python bench/search.py --events 200000      # a couple of minutes
    python bench/search.py --events 200000 --no-pg --no-rg

Steps: generate the deterministic corpus (bench/search_corpus.py) as JSON lines and as
per-channel per-day text logs; `logbot import` it into a SQLite file and into a PostgreSQL
database of its own (timed: the import rate); pick ~10 queries per class from what the
generator counted; time each query in-process (warm: one pass first, then --repeat passes;
p50/p95 over all samples of a class), the `logbot` command as a process for a few queries
per class, and `rg` for the same questions. Work files live in --workdir and are reused
when the corpus parameters match (delete the directory to start over). Results: a table
on stdout and JSON in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_corpus import (
    ACCENTED,
    COLLOCATIONS,
    COMMON,
    TECH,
    Corpus,
    Facts,
    load_facts,
    save_facts,
    write_corpus,
)

from logbot import search
from logbot.query import parse

PG_SERVER = os.environ.get("LOGBOT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LIMIT = 50


@dataclass
class Case:
    """One query of a class: the search arguments, and the ripgrep command for it."""

    query: str | None
    channels: tuple[str, ...] = ()
    nicks: tuple[str, ...] = ()
    since: str | None = None
    rg: list[str] = field(default_factory=list)
    rg_dirs: list[str] | None = None
    #: a second rg filtering the first's output (two words)
    rg_then: list[str] | None = None

    def cli_args(self) -> list[str]:
        args = [self.query] if self.query else []
        for c in self.channels:
            args += ["--channel", c]
        for n in self.nicks:
            args += ["--nick", n]
        if self.since:
            args += ["--since", self.since]
        return args

    def label(self) -> str:
        return " ".join(self.cli_args())


def _by_count(counts: list[int], words: list[str], low: int, high: int, n: int) -> list[str]:
    picked = [w for w, c in zip(words, counts, strict=True) if low <= c <= high]
    if not picked:
        return []
    step = max(1, len(picked) // n)
    return picked[::step][:n]


def _mid_band(total: int) -> tuple[int, int]:
    return max(5, total // 2000), max(20, total // 200)


def classes(facts: Facts, total_events: int, text_dir: Path) -> dict[str, list[Case]]:
    """The twelve query classes of the issue, ~10 queries each, chosen from the corpus."""
    vocab, counts = facts.vocabulary, facts.word_counts
    low, high = _mid_band(total_events)
    index = {w: i for i, w in enumerate(vocab)}

    def count(w: str) -> int:
        return counts[index[w]]

    ascii_words = [w for w in vocab if w.isascii() and w.isalpha()]
    # the rarest words that occur at all (a handful of times in a small corpus, some
    # dozens in 10M events, where every word of the vocabulary is used)
    by_count = sorted((count(w), w) for w in ascii_words if count(w) >= 3)
    rare = [w for _, w in by_count[:200:20]]
    mid = [w for w in ascii_words if low <= count(w) <= high][:10]
    tech_mid = [w for w in TECH if low // 4 <= count(w) and len(w) >= 6][:10]
    common = COMMON[:10]
    top_nicks = [
        n for _, n in sorted(zip(facts.nick_counts, facts.nicks, strict=True), reverse=True)
    ][5:15]
    chans_by_size = [
        c for _, c in sorted(zip(facts.channel_counts, facts.channels, strict=True), reverse=True)
    ]
    since_dt = facts.end - timedelta(days=30)
    since = since_dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    cyr = facts.cyrillic
    cyr_mid = [
        w for w, c in zip(cyr, facts.cyrillic_counts, strict=True) if low // 4 <= c <= high * 4
    ][:10]
    # domain and project of URLs the corpus holds: the tokens of a URL's middle
    url_frags = sorted({u.rsplit("/", 1)[0] for u in facts.url_paths})[:10]
    rg_w = ["rg", "-i", "-w", "-F"]

    def last_days(chan: str, days: int = 30) -> list[str]:
        folder = text_dir / chan.lstrip("#")
        files = sorted(folder.glob("*.log"))
        cutoff = since_dt.strftime("%Y-%m-%d")
        return [str(f) for f in files if f.stem >= cutoff][-days - 1 :]

    out: dict[str, list[Case]] = {
        "rare word": [Case(w, rg=[*rg_w, w]) for w in rare],
        "mid word": [Case(w, rg=[*rg_w, w]) for w in mid],
        "common word": [Case(w, rg=[*rg_w, w]) for w in common],
        "two words": [
            Case(f"{a} {b}", rg=[*rg_w, a], rg_then=[*rg_w, b])
            for a, b in zip(mid[:5] + common[:5], tech_mid[:5] + mid[5:10], strict=False)
        ],
        "phrase": [Case(f'"{c}"', rg=["rg", "-i", "-F", c]) for c in COLLOCATIONS],
        "prefix": [Case(w[:5] + "*", rg=["rg", "-i", "-w", w[:5] + r"\w*"]) for w in tech_mid],
        # two letters of a common word: FTS5 alone would merge the posting lists of
        # hundreds of words (see logbot.search.reader.DENSE_WALK_MAX)
        "short prefix": [
            Case(p + "*", rg=["rg", "-i", "-w", p + r"\w*"])
            for p in dict.fromkeys(w[:2] for w in COMMON if len(w) >= 3)
        ][:10],
        "word + nick": [
            Case(w, nicks=(n,), rg=["rg", "-i", f"<{_re_escape(n)}> .*\\b{w}\\b"])
            for w, n in zip(tech_mid, top_nicks, strict=False)
        ],
        "word + channel + 30d": [
            Case(w, channels=(c,), since=since, rg=[*rg_w, w], rg_dirs=last_days(c))
            for w, c in zip(tech_mid, (chans_by_size * 2)[2:12], strict=False)
        ],
        "cyrillic word": [Case(w, rg=[*rg_w, w]) for w in cyr_mid],
        "url fragment": [Case(f, rg=["rg", "-i", "-F", f]) for f in url_frags],
        "no hits": [
            Case(w, rg=[*rg_w, w])
            for w in ("zqxjv", "qwzzk", "xxyqz", "jjqqv", "vvzqx", "kqzjx", "zzvqj", "qjxzk")
        ],
        "diacritics folded": [Case(w, rg=[*rg_w, w]) for w in [_fold(a) for a in ACCENTED][:10]],
    }
    return {name: cases for name, cases in out.items() if cases}


def _fold(word: str) -> str:
    import unicodedata

    return "".join(
        c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn"
    )


def _re_escape(text: str) -> str:
    import re

    return re.escape(text)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def time_queries(
    db: str, cases: dict[str, list[Case]], facts: Facts, repeat: int
) -> dict[str, dict[str, float]]:
    """In-process query time per class (ms): p50, p95, and the average number of hits."""
    results: dict[str, dict[str, float]] = {}
    with search.open_reader(db) as reader:
        prepared = _prepared(cases, facts)
        for group in prepared.values():  # warm the caches once
            for q, f in group:
                reader.search(q, f, LIMIT)  # type: ignore[arg-type]
        for name, group in prepared.items():
            samples: list[float] = []
            hits: list[int] = []
            for _ in range(repeat):
                for q, f in group:
                    t0 = time.perf_counter()
                    found = reader.search(q, f, LIMIT)  # type: ignore[arg-type]
                    samples.append((time.perf_counter() - t0) * 1000)
                    hits.append(len(found))
            results[name] = {
                "p50": pct(samples, 0.5),
                "p95": pct(samples, 0.95),
                "max": max(samples),
                "hits": statistics.mean(hits),
            }
    return results


def _prepared(
    cases: dict[str, list[Case]], facts: Facts
) -> dict[str, list[tuple[object, search.Filters]]]:
    """Each class's queries, parsed, with their filters."""
    return {
        name: [
            (
                parse(c.query) if c.query else None,
                search.build_filters(
                    search.SearchRequest(
                        channels=c.channels, nicks=c.nicks, since=c.since, now=facts.end
                    )
                ),
            )
            for c in group
        ]
        for name, group in cases.items()
    }


def search_load(db: str, cases: dict[str, list[Case]], facts: Facts, seconds: float) -> None:
    """Run every class's queries round and round for ``seconds`` (a load on the server, for
    `ingest.py --rate` to keep up under), then print each class's p50/p95 (ms)."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    deadline = time.monotonic() + seconds
    with search.open_reader(db) as reader:
        prepared = _prepared(cases, facts)
        while time.monotonic() < deadline:
            for name, group in prepared.items():
                for q, f in group:
                    t0 = time.perf_counter()
                    reader.search(q, f, LIMIT)  # type: ignore[arg-type]
                    samples[name].append((time.perf_counter() - t0) * 1000)
    total = sum(len(v) for v in samples.values())
    print(f"search load: {total:,} queries in {seconds:.0f} s ({total / seconds:.0f}/s)")
    for name, ms in samples.items():
        print(f"  {name:22} p50 {pct(ms, 0.5):8.2f}  p95 {pct(ms, 0.95):8.2f}  n {len(ms)}")


#: issue #15: a search, end to end, within this of `python -c "import sqlite3, click"`
E2E_OVER_FLOOR_MAX_MS = 25


def logbot_command() -> list[str]:
    script = Path(sys.executable).with_name("logbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "logbot"]


# An installed logbot runs from compiled bytecode; this environment may forbid writing it
# (PYTHONDONTWRITEBYTECODE), which would make every run recompile logbot's modules.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def time_process(argv: list[str], runs: int) -> float:
    subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV, check=False
    )
    best: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_ENV, check=False
        )
        best.append((time.perf_counter() - t0) * 1000)
    return statistics.median(best)


def time_end_to_end(
    db: str, cases: dict[str, list[Case]], per_class: int, runs: int
) -> dict[str, float]:
    cmd = logbot_command()
    out = {}
    for name, group in cases.items():
        out[name] = statistics.median(
            time_process([*cmd, "search", *c.cli_args(), "--db", db], runs)
            for c in group[:per_class]
        )
    return out


def _drain(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    n = 0
    while chunk := proc.stdout.read(1 << 20):
        n += chunk.count(b"\n")
    proc.wait()
    return n


def time_rg(text_dir: Path, cases: dict[str, list[Case]], per_class: int) -> dict[str, float]:
    out = {}
    for name, group in cases.items():
        samples = []
        for c in group[:per_class]:
            dirs = c.rg_dirs if c.rg_dirs is not None else [str(text_dir)]
            t0 = time.perf_counter()
            first = subprocess.Popen([*c.rg, *dirs], stdout=subprocess.PIPE)
            if c.rg_then:
                second = subprocess.Popen(c.rg_then, stdin=first.stdout, stdout=subprocess.PIPE)
                assert first.stdout is not None
                first.stdout.close()
                _drain(second)
                first.wait()
            else:
                _drain(first)
            samples.append((time.perf_counter() - t0) * 1000)
        out[name] = statistics.median(samples)
    return out


def run(cmd: list[str], **kw: object) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t0


def pg_database(events: int, fresh: bool) -> tuple[str, bool]:
    """A database of its own on the server; True when it already holds the corpus."""
    import sqlalchemy as sa

    server = sa.make_url(PG_SERVER)
    name = f"logbot_bench_search_{events}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if exists and fresh:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = server.set(database=name).render_as_string(hide_password=False)
    if not exists:
        return url, False
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            have = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
    except sa.exc.DBAPIError:
        have = 0
    finally:
        eng.dispose()
    return url, have == events


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5, help="timed passes over each class")
    ap.add_argument("--e2e-queries", type=int, default=3, help="queries per class run as a process")
    ap.add_argument("--rg-queries", type=int, default=3, help="queries per class given to rg")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-rg", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="regenerate and re-import everything")
    ap.add_argument(
        "--pg-load",
        type=float,
        metavar="SECONDS",
        help="after preparing, only run the PostgreSQL queries round and round for SECONDS "
        "(a search load on the server while `ingest.py --rate` runs), print p50/p95, stop",
    )
    args = ap.parse_args()

    work = args.workdir or Path(__file__).resolve().parent / "out" / f"search-{args.events}"
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    jsonl, text_dir, facts_file = work / "corpus.jsonl", work / "logs", work / "facts.json"
    sqlite_db = work / "logbot.sqlite"
    report: dict[str, object] = {"events": args.events, "seed": args.seed}

    if not facts_file.exists():
        print(f"generating {args.events:,} events ...", flush=True)
        corpus = Corpus(args.events, args.seed)
        t = time.perf_counter()
        write_corpus(corpus, jsonl, text_dir)
        save_facts(corpus.facts, facts_file)
        print(f"  {time.perf_counter() - t:.0f} s", flush=True)
    facts = load_facts(facts_file)

    if not sqlite_db.exists():
        print("importing into SQLite ...", flush=True)
        secs = run([*logbot_command(), "import", "--db", str(sqlite_db), str(jsonl)])
        report["sqlite_import_s"] = secs
        print(f"  {secs:.1f} s, {args.events / secs:,.0f} events/s", flush=True)
    targets = {"sqlite": str(sqlite_db)}
    if not args.no_pg:
        url, ready = pg_database(args.events, args.fresh)
        if not ready:
            print("importing into PostgreSQL ...", flush=True)
            secs = run([*logbot_command(), "import", "--db", url, str(jsonl)])
            report["pg_import_s"] = secs
            print(f"  {secs:.1f} s, {args.events / secs:,.0f} events/s", flush=True)
            import sqlalchemy as sa

            eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with eng.connect() as conn:
                conn.execute(sa.text("VACUUM ANALYZE events"))
            eng.dispose()
        targets["postgresql"] = url

    cases = classes(facts, args.events, text_dir)
    if args.pg_load:
        if "postgresql" not in targets:
            ap.error("--pg-load needs PostgreSQL (drop --no-pg)")
        search_load(targets["postgresql"], cases, facts, args.pg_load)
        return
    timings = {
        engine: time_queries(db, cases, facts, args.repeat) for engine, db in targets.items()
    }
    baseline = time_process([sys.executable, "-c", "pass"], 5)
    # the start-up floor a `logbot search` cannot go below, timed before and after the
    # end-to-end runs so that load on the machine moves both alike
    floor_argv = [sys.executable, "-c", "import sqlite3, click"]
    floor_before = time_process(floor_argv, 5)
    e2e = time_end_to_end(str(sqlite_db), cases, args.e2e_queries, 3)
    floor = (floor_before + time_process(floor_argv, 5)) / 2
    e2e_pg = time_end_to_end(targets["postgresql"], cases, 1, 3) if "postgresql" in targets else {}
    rg = {} if args.no_rg or not shutil.which("rg") else time_rg(text_dir, cases, args.rg_queries)

    print()
    print(
        f"{args.events:,} events; --limit {LIMIT}; times in ms; python -c pass = {baseline:.0f} ms"
    )
    head = f"{'class':22} {'example':34} {'hits':>5} {'sq p50':>7} {'sq p95':>7}"
    if "postgresql" in timings:
        head += f" {'pg p50':>7} {'pg p95':>7}"
    head += f" {'e2e':>6}"
    if e2e_pg:
        head += f" {'pg e2e':>6}"
    if rg:
        head += f" {'rg':>7} {'rg/sq':>6}"
    print(head)
    ratios = []
    for name, group in cases.items():
        sq = timings["sqlite"][name]
        line = f"{name:22} {group[0].label()[:34]:34} {sq['hits']:5.0f}"
        line += f" {sq['p50']:7.2f} {sq['p95']:7.2f}"
        if "postgresql" in timings:
            pg = timings["postgresql"][name]
            line += f" {pg['p50']:7.2f} {pg['p95']:7.2f}"
        line += f" {e2e[name]:6.0f}"
        if e2e_pg:
            line += f" {e2e_pg[name]:6.0f}"
        if rg:
            ratio = rg[name] / max(sq["p50"], 1e-3)
            ratios.append(ratio)
            line += f" {rg[name]:7.0f} {ratio:6.0f}"
        print(line)
    if ratios:
        print(f"median over classes of rg / logbot query time: {statistics.median(ratios):.0f}x")
    over = {name: ms - floor for name, ms in e2e.items()}
    worst = max(over, key=over.__getitem__)
    print(
        f"e2e over the start-up floor (python -c 'import sqlite3, click' = {floor:.0f} ms): "
        f"worst +{over[worst]:.0f} ms ({worst}), median +{statistics.median(over.values()):.0f} ms,"
        f" worst e2e / floor {e2e[worst] / floor:.2f} (target: +{E2E_OVER_FLOOR_MAX_MS} ms)"
    )
    report.update(
        {
            "timings": timings,
            "e2e_ms": e2e,
            "e2e_pg_ms": e2e_pg,
            "rg_ms": rg,
            "python_pass_ms": baseline,
            "startup_floor_ms": floor,
            "queries": {n: [c.label() for c in g] for n, g in cases.items()},
        }
    )
    (work / "results.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
