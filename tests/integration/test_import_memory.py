"""The peak RSS of ``logbot import`` into SQLite stays under #10's bound (bench/README.md)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench.search_corpus import Corpus
from logbot.storage import bulk

#: issue #10: "RSS <= 150 MB whatever the size of the input"; measured 128-136 MB for 200k
#: to 3M lines, 164-168 MB for 200k lines with the former 256 MiB cache and temp_store
PEAK_RSS_LIMIT_MB = 150
LINES = 200_000


def test_bulk_import_of_200k_json_lines_peaks_under_150_mb(tmp_path: Path) -> None:
    """A bulk import (rows, then every index built) of 200k lines stays under 150 MB RSS."""
    source = tmp_path / "corpus.jsonl"
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with source.open("w", encoding="utf-8") as out:
        for event in Corpus(LINES).events():
            out.write(dumps(event) + "\n")
    db = tmp_path / "import.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "logbot", "import", "--db", str(db), str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    # ru_maxrss of the reaped child is its VmHWM (resident pages, mapped files included)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, err
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (LINES,)
    from logbot.storage.engine import make_engine

    engine = make_engine(str(db))
    try:
        with engine.connect() as conn:
            assert bulk.missing(conn) == []  # the index builds ran within the bound
    finally:
        engine.dispose()
