"""What every text-log format shares: lines in, storage rows out.

A format module (:mod:`logbot.importers.znc`, ...) turns one line of one file into a
:class:`Parsed` (an event in the logging machine's local wall-clock time), :data:`SKIP`
(a line it understands that is no channel event: a day marker, a names list, a session
line) or ``None`` (a line no rule understands, which is counted and reported, never
silently dropped). This module does the rest: local time to UTC (DST gaps and repeats
included), time keys, storage rows, batches by bytes for the progress bar.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from logbot.archive import RowBatch
from logbot.casemap import CHANNEL_PREFIXES
from logbot.events import Event, Kind
from logbot.storage.names import (
    CHANNEL_MAX,
    KEY_SPREAD,
    NETWORK_MAX,
    NICK_MAX,
    TARGET_MAX,
    USERHOST_MAX,
)
from logbot.storage.rows import Row, event_row

#: how many FILE:LINE places of lines nobody understood the summary names
SHOWN_UNPARSED = 5
#: bytes read from a file at a time
_READ_SIZE = 1 << 20
#: rows per batch handed to the writer
BATCH_ROWS = 20_000
#: a wall clock that runs back more than this (without a date line) has passed midnight
_NEW_DAY_BACKWARDS = timedelta(hours=2)
_ONE_DAY = timedelta(days=1)
_EARLIEST = datetime(1970, 1, 2)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)
_SECOND_KEYS = 1_000_000 * KEY_SPREAD
_VALUES = {kind: kind.value for kind in Kind}
_UNKNOWN: Any = object()
_LATEST = datetime(2199, 12, 31)

#: a regular-expression class matching the first character of a channel name
CHANNEL_PREFIX_CLASS = "[" + re.escape(CHANNEL_PREFIXES) + "]"
#: channel-membership prefixes some clients show before a nick (op, voice, ...)
NICK_MODES = "~&@%+"

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


class Parsed(NamedTuple):
    """One channel event read from a text log, in local time."""

    when: datetime  # naive, the logging machine's wall clock
    kind: Kind
    nick: str
    text: str = ""
    target: str = ""
    userhost: str = ""
    #: the channel, when the line names it (multi-channel logs); else the file's
    channel: str = ""
    #: what the timestamp can tell apart: 1 (seconds) or 60 (irssi's default HH:MM)
    resolution: int = 1


class _Skip:
    def __repr__(self) -> str:
        return "SKIP"


#: a line understood and deliberately not stored (day markers, session lines, names lists)
SKIP = _Skip()

LineResult = Parsed | _Skip | None


class LineParser(Protocol):
    """A format's reader for one file; keeps the date as the file goes on."""

    def parse(self, line: str) -> LineResult: ...


@dataclass
class Source:
    """One file to import and what its path says."""

    path: Path
    format: str
    network: str = ""
    channel: str = ""
    #: the local date the file's lines belong to, when its name says (ZNC, Limnoria)
    day: date | None = None
    size: int = 0


@dataclass
class Report:
    """What the foreign-format side of an import saw."""

    files: int = 0
    lines: int = 0
    events: int = 0
    #: lines understood that are not channel events (day markers, session lines)
    skipped: int = 0
    unparsed: int = 0
    #: of those, event lines of a file that names no channel (``--channel`` says)
    no_channel: int = 0
    #: the first few lines nobody understood, as FILE:LINE
    unparsed_at: list[str] = field(default_factory=list)

    def not_understood(self, where: str) -> None:
        self.unparsed += 1
        if len(self.unparsed_at) < SHOWN_UNPARSED:
            self.unparsed_at.append(where)


class DayTracker:
    """The date of lines that carry only a time of day.

    A date line sets it; without one, a clock that runs back by more than two hours has
    passed midnight (a DST repeat runs back by one hour, and stays on the same day).
    """

    def __init__(self, day: date | None = None) -> None:
        self.day = day
        self._last: timedelta | None = None

    def set(self, day: date) -> None:
        self.day = day
        self._last = None

    def at(self, hour: int, minute: int, second: int) -> datetime | None:
        if self.day is None:
            return None
        clock = timedelta(hours=hour, minutes=minute, seconds=second)
        if self._last is not None and self._last - clock > _NEW_DAY_BACKWARDS:
            self.day += _ONE_DAY
        self._last = clock
        return datetime(self.day.year, self.day.month, self.day.day) + clock


class LocalClock:
    """Wall-clock times of one file to UTC, in order.

    In a repeated hour (DST ends) the first pass is read with the earlier offset; once the
    log's clock runs back into the repeat, the later one (``fold=1``). A time inside a gap
    (DST starts; the logging machine cannot have written it) is read with the offset from
    before the change.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._last_utc: datetime | None = None
        self._last_local: datetime | None = None
        self._second_pass = False

    def utc(self, local: datetime) -> datetime:
        tz = self.tz
        first = local.replace(tzinfo=tz, fold=0)
        earlier = first.astimezone(UTC)
        other = local.replace(tzinfo=tz, fold=1)
        when = earlier
        if first.utcoffset() == other.utcoffset():
            self._second_pass = False
        elif earlier.astimezone(tz).replace(tzinfo=None) == local:  # a repeat, not a gap
            last_local, last_utc = self._last_local, self._last_utc
            if self._second_pass or (
                last_local is not None
                and last_utc is not None
                and local < last_local
                and last_utc >= earlier
            ):
                # the clock ran back: the second pass through the repeated hour
                self._second_pass = True
                when = other.astimezone(UTC)
        self._last_local = local
        self._last_utc = when
        return when


class _Counted:
    """Lines of a (maybe gzipped) file, and how many bytes *of the file* were read."""

    def __init__(self, path: Path) -> None:
        self.raw = path.open("rb")
        self.stream: IO[bytes] | gzip.GzipFile = self.raw
        #: how much to read at a time: the whole of a small file at once
        self.hint = max(os.fstat(self.raw.fileno()).st_size + 1, 4096)
        if path.name.endswith(".gz"):
            self.hint = _READ_SIZE
            self.stream = gzip.GzipFile(fileobj=self.raw, mode="rb")

    def position(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


def rows(
    sources: list[Source],
    parser_for: Callable[[Source], LineParser],
    tz: tzinfo,
    report: Report,
    *,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[RowBatch]:
    """Storage rows for every event of ``sources``, in batches of one time resolution.

    ``consumed`` of each batch is the number of file bytes read since the previous one (the
    compressed size for ``.gz`` files), so a progress bar by bytes ends at the total size.
    """
    batch: list[Row] = []
    taken: set[int] = set()
    resolution = 1
    consumed = 0
    offsets = _Offsets(tz)
    days = offsets.days
    #: per (network, channel): the latest time key of the files read so far
    horizon: dict[tuple[str, str], int] = {}
    batch_overlaps = False
    for source in sources:
        report.files += 1
        parser = parser_for(source)
        parse = parser.parse
        clock = LocalClock(tz)
        spread = _channel_spread(source)
        network = source.network
        name = str(source.path)
        last_key = -1
        counted = _Counted(source.path)
        read_until = 0
        number = 0
        file_max: dict[str, int] = {}
        file_overlaps = False
        seen_channel: str | None = None
        limit = -1
        try:
            for number, line in enumerate(_lines(counted.stream, counted.hint), 1):
                try:
                    result = parse(line)
                except ValueError:  # a date field out of range, say
                    result = None
                if type(result) is not Parsed:
                    if isinstance(result, _Skip) or not line or line.isspace():
                        if result is not None:
                            report.skipped += 1
                    else:
                        report.not_understood(f"{name}:{number}")
                    continue
                local, kind, nick, text, target, userhost, channel, step = result
                if not _EARLIEST <= local < _LATEST:
                    report.not_understood(f"{name}:{number}")
                    continue
                if not channel:
                    channel = source.channel
                    if not channel:
                        report.no_channel += 1
                        report.not_understood(f"{name}:{number}")
                        continue
                if step != resolution:
                    if batch:
                        position = counted.position()
                        yield RowBatch(
                            batch, consumed + position - read_until, resolution, batch_overlaps
                        )
                        batch, consumed, read_until, taken = [], 0, position, set()
                        batch_overlaps = False
                    resolution = step
                offset = days.get(local.toordinal(), _UNKNOWN)
                if offset is _UNKNOWN:
                    offset = offsets.get(local)
                if offset is None:  # an hour with a DST change: the careful way
                    micros = _micros(clock.utc(local))
                else:
                    micros = (local - _NAIVE_EPOCH) // _ONE_US - offset
                key = micros * KEY_SPREAD
                if key > file_max.get(channel, -1):
                    file_max[channel] = key
                if channel is not seen_channel:
                    seen_channel = channel
                    limit = horizon.get((network, channel.lower()), -1)
                if not file_overlaps and key <= limit:
                    # an earlier file logged this channel at this time too (two programs'
                    # logs): what came before is stored first, and the rest of this file
                    # is compared with it
                    file_overlaps = True
                    if batch:
                        position = counted.position()
                        yield RowBatch(
                            batch, consumed + position - read_until, resolution, batch_overlaps
                        )
                        batch, consumed, read_until, taken = [], 0, position, set()
                if file_overlaps:
                    batch_overlaps = True
                if key <= last_key < key + _SECOND_KEYS:
                    # lines of one second keep their order: consecutive sequence numbers
                    key = last_key + 1
                else:
                    # each channel starts at its own sequence number, so that the lines of
                    # two channels in one second rarely want one key (which the writer
                    # resolves, slowly); the time stays the line's
                    key += spread
                while key in taken:
                    # another channel's line of the same second in this batch holds it
                    key += 1
                taken.add(key)
                last_key = key
                if (
                    len(nick) <= NICK_MAX
                    and len(target) <= TARGET_MAX
                    and len(userhost) <= USERHOST_MAX
                    and "\x00" not in line
                    and len(channel) <= CHANNEL_MAX
                    and len(network) <= NETWORK_MAX
                ):
                    # what event_row would build, without building an Event first
                    row: Row = (
                        key,
                        network,
                        channel,
                        _VALUES[kind],
                        nick,
                        text,
                        target or None,
                        userhost or None,
                        False,
                        None,
                        None,  # no msgid in another program's log
                        False,
                    )
                else:
                    when = _EPOCH + timedelta(microseconds=micros)
                    event = Event(when, network, channel, kind, nick, text, target, userhost)
                    row = event_row(event, key)
                batch.append(row)
                if len(batch) >= batch_rows:
                    report.events += len(batch)
                    position = counted.position()
                    yield RowBatch(
                        batch, consumed + position - read_until, resolution, batch_overlaps
                    )
                    batch, consumed, read_until, taken = [], 0, position, set()
                    batch_overlaps = False
        finally:
            report.lines += number
            for chan, latest in file_max.items():
                where = network, chan.lower()
                horizon[where] = max(horizon.get(where, -1), latest)
            end = counted.position()
            counted.close()
        consumed += end - read_until
    report.events += len(batch)
    if batch or consumed:
        yield RowBatch(batch, consumed, resolution, batch_overlaps)


class _Offsets:
    """UTC offsets (microseconds) of whole local days, for the common case.

    ``None`` for a day in which the offset changes (its lines go through
    :class:`LocalClock`, which knows about repeated and skipped hours).
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.days: dict[int, int | None] = {}

    def get(self, local: datetime) -> int | None:
        day = local.toordinal()
        try:
            return self.days[day]
        except KeyError:
            pass
        start = datetime.fromordinal(day)
        end = start + timedelta(hours=23, minutes=59, seconds=59)
        seen = {
            when.replace(tzinfo=self.tz, fold=fold).utcoffset()
            for when in (start, end)
            for fold in (0, 1)
        }
        offset = seen.pop() if len(seen) == 1 else None
        value = None if offset is None else offset // _ONE_US
        if len(self.days) > 100_000:
            self.days.clear()
        self.days[day] = value
        return value


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _ONE_US


def _lines(stream: IO[bytes] | gzip.GzipFile, size: int) -> Iterator[str]:
    """The lines of a file as text, in big reads: UTF-8, else Latin-1 line by line (old
    logs of channels that typed cp1252). Only ``\\n`` ends a line, as in the programs."""
    rest = b""
    # read(n) allocates n bytes first: a file a day is often a few kB
    size = min(size, _READ_SIZE)
    while chunk := stream.read(size):
        chunk = rest + chunk
        cut = chunk.rfind(b"\n") + 1
        rest = chunk[cut:]
        yield from _decode(chunk[:cut]).split("\n")[:-1]
    if rest:
        yield _decode(rest)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        return "\n".join(_decode_line(line) for line in data.split(b"\n"))


def _decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return raw.decode("latin-1").rstrip("\r")


def _channel_spread(source: Source) -> int:
    """A sequence number of its own for each channel (stable: the same keys every import)."""
    name = f"{source.network}\x00{source.channel.lower()}".encode()
    return zlib.crc32(name) % (KEY_SPREAD // 2)


# --- helpers the formats share ------------------------------------------------------------


def strip_mode(nick: str) -> str:
    """``@alice`` -> ``alice``: the membership prefix some clients show is not the nick."""
    return nick.lstrip(NICK_MODES) or nick


def is_channel(name: str) -> bool:
    return bool(name) and name[0] in CHANNEL_PREFIXES


def channel_file_source(path: Path, fmt: str) -> Source:
    """A log named for its channel in a folder named for its network,
    ``<network>/<#channel>.log`` (irssi, HexChat): the network and channel it says."""
    source = Source(path=path, format=fmt)
    name = path.name.removesuffix(".gz").removesuffix(".log")
    if is_channel(name):
        source.channel = name
        source.network = path.parent.name
    return source


_ASCTIME_DAY = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\w{3}) +(\d{1,2})(?: (\d\d):(\d\d):(\d\d))? (\d{4})"
)


def asctime_day(text: str) -> date | None:
    """The date in ``Fri Dec  4 23:58:30 2026`` or ``Sat Dec 05 2026`` (English names)."""
    m = _ASCTIME_DAY.search(text)
    if m is None or m.group(1) not in _MONTHS:
        return None
    return date(int(m.group(6)), _MONTHS[m.group(1)], int(m.group(2)))


def month_number(name: str) -> int | None:
    return _MONTHS.get(name)


def userhost_of(mask: str) -> str:
    """``nick!user@host`` or ``user@host`` -> ``user@host``."""
    return mask.split("!", 1)[1] if "!" in mask else mask
