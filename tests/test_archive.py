"""logbot.archive's internals: the parse-ahead of an import."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from logbot.archive import _Prefetch


def test_prefetch_yields_every_item_in_order_from_another_thread() -> None:
    """Items come in source order, produced off the consumer's thread."""
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(10):
            threads.add(threading.current_thread().name)
            yield i

    ahead = _Prefetch(source())
    try:
        assert list(ahead) == list(range(10))
    finally:
        ahead.close()
    assert threading.current_thread().name not in threads


def test_prefetch_raises_a_source_error_after_the_items_before_it() -> None:
    """An error in the source reaches the consumer in order, after the good items."""

    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("line 3 is bad")

    ahead = _Prefetch(source())
    got: list[int] = []

    def consume() -> None:
        got.extend(ahead)

    try:
        with pytest.raises(ValueError, match="line 3 is bad"):
            consume()
    finally:
        ahead.close()
    assert got == [1, 2]


def test_prefetch_reads_at_most_depth_items_ahead_and_close_stops_it() -> None:
    """The consumer stopping early leaves the source unread past the look-ahead."""
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = _Prefetch(source(), depth=2)
    first = next(iter(ahead))
    ahead.close()
    assert first == 0
    assert len(produced) <= 3
