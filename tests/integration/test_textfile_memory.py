"""Memory stays flat: wire lines through the real protocol into the text file (bench/memory.py)."""

from __future__ import annotations

from pathlib import Path

from bench.memory import run


def test_memory_stays_flat_over_100k_events_through_protocol_and_text_file(
    tmp_path: Path,
) -> None:
    """100,000 events of a churning channel grow RSS by less than 10 MB after the warm-up."""
    result = run(100_000, tmp_path, sample_every=50_000, report=lambda _: None)
    assert result.events >= 100_000
    assert result.growth < 10 * 2**20, f"RSS grew by {result.growth / 2**20:.1f} MiB"
    lines = (tmp_path / "memory.log").read_text(encoding="utf-8").count("\n")
    assert lines >= result.events  # every event reached the file (plus date lines)
