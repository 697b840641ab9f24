"""Smoke test of bench/protocol.py: its stream, its registration and its check still fit
the protocol (the figures themselves are not a test)."""

from __future__ import annotations

import pytest

from bench import protocol as bench


def test_the_protocol_bench_registers_checks_and_measures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every bench line becomes one event (half with the server's time), and a tiny run
    prints its figure."""
    bench.check(lines=200)
    assert bench.main(["--lines", "300", "--rounds", "1"]) == 0
    assert "µs/line CPU, best of 1 rounds" in capsys.readouterr().out
