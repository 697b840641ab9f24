"""Files to import and their rows: the API of :mod:`logbot.importers` (see there)."""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, tzinfo
from pathlib import Path
from types import ModuleType
from typing import IO, cast

from logbot.archive import ImportStats, RowBatch, json_batches, read_binary
from logbot.importers import FORMATS, hexchat, irclogbot, irssi, limnoria, weechat, znc
from logbot.importers.core import LineParser, Report, Source, rows

__all__ = [
    "Plan",
    "Report",
    "RowBatch",
    "Source",
    "SourceError",
    "batches",
    "foreign_rows",
    "plan",
]

_MODULES: dict[str, ModuleType] = {
    m.NAME: m for m in (znc, irssi, weechat, hexchat, limnoria, irclogbot)
}
if ("auto", "jsonl", *_MODULES) != FORMATS:  # pragma: no cover - a module without a name
    raise ImportError("logbot.importers.FORMATS does not name every format module")
#: in this order ``auto`` asks the formats (the most particular first)
_DETECT = (weechat, limnoria, hexchat, irssi, znc, irclogbot)
#: lines read to recognise a file
_HEAD_LINES = 40
_DIGITS = re.compile(r"\d")
_JSON_NAME = re.compile(r"\.(?:jsonl|ndjson|json)(?:\.gz)?$")


class SourceError(Exception):
    """A path that cannot be imported as asked; one line for the user."""


@dataclass
class Plan:
    """The files an import will read."""

    sources: list[Source] = field(default_factory=list)
    #: files found while walking a directory that no format recognised (path, why)
    ignored: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self.sources)


def _head(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    lines: list[str] = []
    with opener(path, "rb") as stream:
        for raw in stream:
            lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if len(lines) >= _HEAD_LINES:
                break
    return lines


def _detect(path: Path) -> str | None:
    if _JSON_NAME.search(path.name):
        return "jsonl"
    head = _head(path)
    if any(line.lstrip().startswith("{") for line in head[:1]):
        return "jsonl"
    for module in _DETECT:
        if module.sniff(path, head):
            return str(module.NAME)
    return None


def _detect_alike(path: Path, known: dict[tuple[Path, str], str | None]) -> str | None:
    """:func:`_detect`, once for the files of a directory whose names have one shape.

    A ZNC or Limnoria directory holds a file a day (``2026-12-04.log``, ...): reading the
    first of them tells what all are, and a walk of years of logs opens each file once.
    """
    shape = path.parent, _DIGITS.sub("0", path.name)
    if shape not in known:
        known[shape] = _detect(path)
    return known[shape]


def _files(path: Path) -> Iterator[tuple[Path, bool]]:
    """The files of ``path`` (``True``: named, not found by walking), sorted."""
    if not path.is_dir():
        yield path, True
        return
    for root, dirs, names in os.walk(path, onerror=_walk_error):
        dirs.sort()
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(root, name), False


def _walk_error(exc: OSError) -> None:
    raise SourceError(f"cannot read {exc.filename}: {exc.strerror}")


def plan(
    paths: list[str], fmt: str = "auto", *, network: str | None = None, channel: str | None = None
) -> Plan:
    """Every file to import, with its format and what its path says (see the module doc)."""
    result = Plan()
    known: dict[tuple[Path, str], str | None] = {}
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise SourceError(f"{given}: no such file or directory")
        for file, named in _files(path):
            try:
                size = file.stat().st_size
                kind = fmt if fmt != "auto" else _detect_alike(file, known)
            except (OSError, EOFError) as exc:
                raise SourceError(f"cannot read {file}: {getattr(exc, 'strerror', exc)}") from None
            if kind is None:
                if named:
                    raise SourceError(f"{file}: not a log format logbot knows (see --format)")
                result.ignored.append((file, "not a log format logbot knows"))
                continue
            if kind == "jsonl":
                result.sources.append(Source(path=file, format="jsonl", size=size))
                continue
            source: Source = _MODULES[kind].describe(file)
            source.size = size
            if network is not None:
                source.network = network
            if channel is not None:
                source.channel = channel
            if not source.channel and kind != "irclogbot":
                why = "cannot tell the channel from the path (give --channel)"
                if named:
                    raise SourceError(f"{file}: {why}")
                result.ignored.append((file, why))
                continue
            result.sources.append(source)
    # files of one day of every channel before the next day's (ZNC, Limnoria keep a file a
    # channel a day): the rows then come in about time order, and the database appends
    # to its indexes instead of inserting all over them
    result.sources.sort(key=_by_day)
    return result


def _by_day(source: Source) -> tuple[bool, date]:
    return source.day is not None, source.day or date.min


def _parser(source: Source) -> LineParser:
    parser: LineParser = _MODULES[source.format].Parser(source)
    return parser


def batches(
    sources: list[Source],
    tz: tzinfo,
    report: Report,
    stats: ImportStats,
    *,
    json_tz: tzinfo | None = None,
) -> Iterator[RowBatch]:
    """The rows of every source in order: JSON lines through :mod:`logbot.archive`, runs
    of text logs through :func:`foreign_rows` (one batch may span many small files)."""
    run: list[Source] = []
    for source in sources:
        if source.format != "jsonl":
            run.append(source)
            continue
        if run:
            yield from foreign_rows(run, tz, report)
            run = []
        report.files += 1
        with source.path.open("rb") as raw:
            stream: IO[bytes] = raw
            if source.path.name.endswith(".gz"):
                stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
            yield from json_batches(
                read_binary(stream), source=str(source.path), tz=json_tz, stats=stats
            )
    if run:
        yield from foreign_rows(run, tz, report)


def foreign_rows(sources: list[Source], tz: tzinfo, report: Report) -> Iterator[RowBatch]:
    """Storage rows for the events of text-log ``sources`` (not JSON lines)."""
    return rows(sources, _parser, tz, report)
