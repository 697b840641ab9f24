"""``logbot html``: the site's pages as files, rewritten only where something changed.

Layout (names as on disk, not URL-encoded): ``DIR/index.html``,
``DIR/{network}/{channel}/index.html`` (the calendar), ``DIR/{network}/{channel}/
{YYYY-MM-DD}.html`` (UTC days; a day of more than
:data:`~logbot.web.common.DAY_PART_EVENTS` events is cut in parts as the server cuts it:
its first part under that name, part K in ``{YYYY-MM-DD}.pK.html``) and ``DIR/static/``
(CSS). ``DIR/.logbot-html.json``
remembers each day's event count, newest id and neighbours: a rerun rewrites a day only
when one of them changed (new lines, or a new day next to it), and a channel's calendar
only when one of its days did. Those facts come from per-day counts (no event read);
the days to write are read in runs of UTC days of every channel, one streamed query
each (a walk of the table, or of each channel's index where the run's pages hold a
small share of its events), split into channels and days here, in this process or in
``--jobs`` worker processes.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from markupsafe import Markup

from logbot import __version__
from logbot.render import Record
from logbot.settings import Settings
from logbot.storage.browse import UTC_DAY_KEYS, Browser, ChannelInfo, EventRow
from logbot.storage.gaps import Gap
from logbot.web import common
from logbot.web.common import Links, disk_name
from logbot.web.days import DayPart, part_gaps
from logbot.web.lines import rows_html
from logbot.web.site import Archive

_EPOCH_DAY = datetime(1970, 1, 1, tzinfo=UTC)
#: the events a task of ``--jobs`` writes at most (unless one day of every channel has
#: more): small enough that the processes finish together, big enough that a task's
#: query and skeletons cost little beside its pages
CHUNK_EVENTS = 20_000

MANIFEST = ".logbot-html.json"


@dataclass
class Written:
    """What a run did: pages written and days left as they were."""

    days_written: int = 0
    days_kept: int = 0
    channels: int = 0


def _write(path: Path | str, data: bytes, *, mkdir: bool = True, unknown: bool = False) -> None:
    """Replace ``path`` atomically: a web server never serves half a page.

    ``unknown``: a page whose day no earlier run's manifest knows is written under its
    own name when there is none yet: it replaces nothing, and a run that stops before it
    writes the manifest leaves the day unknown to the manifest, so the next run writes
    the page again (a rename a page is a quarter of the kernel's work on a new site)."""
    if mkdir:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if unknown:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            _write_all(fd, data)
            return
    tmp = f"{path}.tmp"
    _write_all(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), data)
    os.replace(tmp, path)


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd`` and close it."""
    # os-level: one open and one write, without the buffered file object's layers (a
    # site is tens of thousands of pages)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class _Day(NamedTuple):
    """A day page to write: its day, previous and next days, the gaps it shows."""

    day: date
    neighbours: tuple[date | None, date | None]
    gaps: tuple[Gap, ...]
    #: no earlier run's manifest knows the day (see :func:`_write`)
    unknown: bool = False


class _Pages(NamedTuple):
    """A task: the day pages of a run of UTC days (events ``low`` to ``high``), of one
    or more channels."""

    low: int
    high: int
    pages: tuple[tuple[ChannelInfo, _Day], ...]
    #: read through each channel's index, not in one walk of the table (the pages'
    #: channels hold a small share of the days' events)
    by_channel: bool
    #: the channels whose rows the walk keeps (None: all, every row is wanted)
    only: tuple[int, ...] | None


class _Calendar(NamedTuple):
    """A task: a channel's calendar, with its events per day."""

    chan: ChannelInfo
    counts: dict[date, int]


def default_jobs() -> int:
    """Processes for ``--jobs 0``: the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def write_site(
    db: str | None,
    out: Path,
    *,
    channels: Sequence[str] = (),
    title: str = "IRC logs",
    noindex: bool = True,
    index_channels: Sequence[str] = (),
    jobs: int = 1,
    settings: Settings | None = None,
) -> Written:
    """Write (or bring up to date) the static site for ``db`` in ``out``.

    Which pages need writing is known from each channel's per-day counts and newest ids
    alone (see :meth:`Browser.utc_days`); the pages are then written in tasks of runs of
    days. ``jobs`` > 1 runs the tasks in that many processes (:mod:`logbot.web.jobs`),
    each with its own read-only connection, holding one day's events at a time.
    ``settings``: whose ``publish`` keys say which channels are written (not
    ``private``) and listed (``public``); None: all public.
    """
    archive = Archive(
        db,
        channels=channels,
        title=title,
        noindex=noindex,
        index_channels=index_channels,
        settings=settings,
    )
    new: dict[str, list[object]] = {}
    done = Written()
    try:
        # a network that starts or stops asking not to be indexed, or a channel whose
        # publish changes, rewrites every page
        publish = sorted(
            [c.network, c.name, [*astuple(archive.access(c.network, c.name))]]
            for c in archive.browser.channels()
        )
        indexing = [noindex, sorted(archive.indexed), sorted(archive.closed_networks()), publish]
        manifest_path = out / MANIFEST
        old: dict[str, list[object]] = {}
        size = common.DAY_PART_EVENTS
        # the part size the pages on disk were cut with (a manifest from before parts:
        # every day whole, and a day with more events rewritten below as it grew)
        old_size = size
        try:
            saved = json.loads(manifest_path.read_text("utf-8"))
            if saved.get("version") == __version__ and saved.get("noindex") == indexing:
                old = saved.get("days", {})
                old_size = int(saved.get("part_events", size))
        except (OSError, ValueError, AttributeError, TypeError):
            pass
        # read first: a database that cannot be read leaves DIR as it was
        chans = archive.channels(fresh=True)
        for chan in archive.browser.channels():
            if not archive.access(chan.network, chan.name).served:
                _unpublish(out / disk_name(chan.network) / disk_name(chan.name))
        for item in resources.files("logbot.web").joinpath("static").iterdir():
            if item.name.endswith(".css"):
                _write(out / "static" / item.name, item.read_bytes())
        _write(out / "index.html", archive.index_html(Links(static=True)))
        tasks = _plan(archive, out, chans, old, new, done, old_size)
        if jobs <= 1:
            _setup_here(archive, out)
            for task in tasks:
                _run_task(task)
        else:
            from logbot.web import jobs as processes

            for _ in processes.run(
                jobs,
                _setup,
                (db, title, (noindex, tuple(archive.indexed)), settings, out),
                _run_task,
                tasks,
            ):
                pass
    finally:
        _here.clear()
        archive.close()
    _write(
        manifest_path,
        json.dumps(
            {
                "version": __version__,
                "noindex": indexing,
                "written": datetime.now(UTC).isoformat(),
                "part_events": size,
                "days": new,
            }
        ).encode(),
    )
    return done


def _unpublish(folder: Path) -> None:
    """Remove the pages an earlier run wrote of a channel that is private now."""
    if not folder.is_dir():
        return
    for page in folder.glob("*.html"):
        page.unlink()
    for empty in (folder, folder.parent):
        try:
            empty.rmdir()
        except OSError:
            # something else lives there: not ours to remove
            break


def _plan(
    archive: Archive,
    out: Path,
    chans: list[ChannelInfo],
    old: dict[str, list[object]],
    new: dict[str, list[object]],
    done: Written,
    old_size: int,
) -> Iterator[_Pages | _Calendar]:
    """The tasks that bring ``out`` up to date (the manifest's facts into ``new``, the
    counts into ``done``): a day is written when its facts (event count, newest id,
    neighbours, gaps shown) differ from the manifest's, a channel's calendar when one of
    its days was written or removed (and the parts of a day that has fewer parts than
    before, ``old_size`` the events a part then held). Calendars come channel after
    channel, then the pages in runs of UTC days of every channel (see :func:`_runs`)."""
    size = common.DAY_PART_EVENTS
    # the days an earlier run wrote, per channel: a day no longer in the database (its
    # lines forgotten or pruned) loses its page
    earlier: dict[tuple[str, str], list[str]] = {}
    for key in old:
        network, name, day_text = key.split("\x00")
        earlier.setdefault((network, name), []).append(day_text)
    # UTC day number -> the pages to write that day, with their events
    wanted: dict[int, list[tuple[ChannelInfo, _Day, int]]] = {}
    # UTC day number -> the events of every channel that day, written or not
    totals: dict[int, int] = {}
    planned = {chan.id for chan in chans}
    for chan in archive.browser.channels():
        if chan.id not in planned:
            # not written (private, or not asked for), but read by a walk of the table
            for number, n, _, _ in archive.browser.utc_days(chan.id):
                totals[number] = totals.get(number, 0) + n
    for chan in chans:
        done.channels += 1
        folder = out / disk_name(chan.network) / disk_name(chan.name)
        folder.mkdir(parents=True, exist_ok=True)
        gaps = archive.browser.gaps(chan)
        days = [
            (number, (_EPOCH_DAY + timedelta(days=number)).date(), n, high)
            for number, n, _, high in archive.browser.utc_days(chan.id)
        ]
        counts = {day: n for _, day, n, _ in days}
        changed = False
        for i, (number, day, n, high) in enumerate(days):
            totals[number] = totals.get(number, 0) + n
            prev = days[i - 1][1] if i else None
            nxt = days[i + 1][1] if i + 1 < len(days) else None
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            shown = tuple(g for g in gaps if g.start < end and (g.end is None or g.end > start))
            key = f"{chan.network}\x00{chan.name}\x00{day.isoformat()}"
            facts: list[object] = [
                n,
                high,
                prev.isoformat() if prev else None,
                nxt.isoformat() if nxt else None,
            ]
            if shown:
                # a gap can close or shrink (backfill) while the day's events stay as
                # they were
                facts.append(
                    [[g.start.isoformat(), g.end and g.end.isoformat(), g.reason] for g in shown]
                )
            new[key] = facts
            before = old.get(key)
            if (
                before == facts
                and old_size == size
                and (folder / f"{day.isoformat()}.html").exists()
            ):
                done.days_kept += 1
                continue
            if before:
                _unlink_parts(folder, day.isoformat(), -(-n // size), _parts(before, old_size))
            done.days_written += 1
            changed = True
            page = _Day(day, (prev, nxt), shown, key not in old)
            wanted.setdefault(number, []).append((chan, page, n))
        for day_text in earlier.get((chan.network, chan.name), ()):
            key = f"{chan.network}\x00{chan.name}\x00{day_text}"
            if key not in new:
                (folder / f"{day_text}.html").unlink(missing_ok=True)
                _unlink_parts(folder, day_text, 1, _parts(old[key], old_size))
                changed = True
        if changed or not (folder / "index.html").exists():
            yield _Calendar(chan, counts)
    yield from _runs(wanted, totals)


def _parts(facts: list[object], size: int) -> int:
    """The parts a day's page had, from its manifest facts (events first)."""
    n = facts[0] if facts else 0
    return -(-n // size) if isinstance(n, int) and n > 0 else 1


def _unlink_parts(folder: Path, day_text: str, keep: int, had: int) -> None:
    """Remove a day's part pages ``keep + 1`` to ``had`` (a day with fewer parts now)."""
    for number in range(max(keep, 1) + 1, had + 1):
        (folder / f"{day_text}.p{number}.html").unlink(missing_ok=True)


def _runs(
    wanted: dict[int, list[tuple[ChannelInfo, _Day, int]]], totals: dict[int, int]
) -> Iterator[_Pages]:
    """The pages of ``wanted`` in tasks of runs of consecutive UTC days with pages to
    write (``totals``: every channel's events a day), of about :data:`CHUNK_EVENTS`.

    A run is read in one walk of the table where its pages hold a third or more of its
    days' events: the table's pages then serve every channel at once (each channel's
    index alone reads each of them once per channel, and twice the CPU a row); through
    each channel's index where they hold less (one channel asked for among many)."""
    run: list[tuple[ChannelInfo, _Day]] = []
    first = last = 0
    events = total = 0
    for number in sorted(totals.keys() | wanted.keys()):
        pages = wanted.get(number)
        if run and (pages is None or number != last + 1):
            # a day whose pages are all kept ends a run: its events are not read
            yield _run(first, last, run, events, total)
            run = []
        if pages is None:
            continue
        if not run:
            first, events, total = number, 0, 0
        last = number
        run.extend((chan, day) for chan, day, _ in pages)
        events += sum(n for _, _, n in pages)
        total += totals.get(number, 0)
        if events >= CHUNK_EVENTS:
            yield _run(first, last, run, events, total)
            run = []
    if run:
        yield _run(first, last, run, events, total)


def _run(
    first: int, last: int, pages: list[tuple[ChannelInfo, _Day]], events: int, total: int
) -> _Pages:
    """The task of days ``first`` to ``last`` (UTC day numbers)."""
    by_channel = events * 3 < total
    only = None if events >= total else tuple(sorted({chan.id for chan, _ in pages}))
    return _Pages(
        first * UTC_DAY_KEYS, (last + 1) * UTC_DAY_KEYS - 1, tuple(pages), by_channel, only
    )


@dataclass
class _Writer:
    """What a process writing tasks holds: its archive, the output, channel skeletons."""

    archive: Archive
    out: Path
    skeletons: dict[ChannelInfo, _Skeletons]


#: this process's writer while tasks run
_here: list[_Writer] = []


def _setup_here(archive: Archive, out: Path) -> None:
    _here[:] = [_Writer(archive, out, {})]


def _setup(
    db: str | None,
    title: str,
    indexing: tuple[bool, tuple[str, ...]],
    settings: Settings | None,
    out: Path,
) -> None:
    """A worker process's start: its own archive (and read-only connection)."""
    noindex, indexed = indexing
    archive = Archive(db, title=title, noindex=noindex, index_channels=indexed, settings=settings)
    _setup_here(archive, out)


def _run_task(task: _Pages | _Calendar) -> int:
    """Write a task's pages (with what :func:`_setup_here` set); the pages written."""
    (writer,) = _here
    archive = writer.archive
    if isinstance(task, _Calendar):
        chan = task.chan
        folder = writer.out / disk_name(chan.network) / disk_name(chan.name)
        _write(folder / "index.html", archive.calendar_html(chan, _LINKS, UTC, "UTC", task.counts))
        return 1
    # UTC day number -> channel id -> its page that day
    wanted: dict[int, dict[int, tuple[ChannelInfo, _Day]]] = {}
    for chan, day in task.pages:
        number = (day.day - _EPOCH_DAY.date()).days
        wanted.setdefault(number, {})[chan.id] = (chan, day)
    written = 0
    # one streamed read, split into UTC days: one day of each channel held at a time
    # (each channel's rows of a day come together, however the read orders channels)
    held: dict[int, list[EventRow]] = {}
    pages: dict[int, tuple[ChannelInfo, _Day]] = {}
    day_low = day_end = 0  # the held day's ids: day_low <= id < day_end
    # (the read not held in a variable: an error here ends it before the archive closes)
    for part in _read(archive.browser, task):
        for row in part:
            eid = row[0]
            if not day_low <= eid < day_end:
                written += _day_pages(writer, pages, held)
                number = eid // UTC_DAY_KEYS
                day_low = number * UTC_DAY_KEYS
                day_end = day_low + UTC_DAY_KEYS
                pages = wanted.get(number, {})
                held = {cid: [] for cid in pages}
            bucket = held.get(row[1])
            if bucket is not None:
                bucket.append(row)
    return written + _day_pages(writer, pages, held)


def _read(browser: Browser, task: _Pages) -> Iterable[list[EventRow]]:
    """The rows of a task's pages' channels (in lists), each channel's rows of a day
    together."""
    if task.by_channel:
        ids = sorted({chan.id for chan, _ in task.pages})
        return itertools.chain.from_iterable(
            browser.channel_rows(cid, task.low, task.high) for cid in ids
        )
    return browser.range_rows(task.low, task.high, task.only)


def _day_pages(
    writer: _Writer, pages: dict[int, tuple[ChannelInfo, _Day]], held: dict[int, list[EventRow]]
) -> int:
    """Write the pages of one day of the channels that have rows in ``held``; how many."""
    written = 0
    for cid, rows in held.items():
        if not rows:
            continue
        chan, day = pages[cid]
        skeletons = writer.skeletons.get(chan)
        if skeletons is None:
            folder = writer.out / disk_name(chan.network) / disk_name(chan.name)
            skeletons = writer.skeletons[chan] = _Skeletons(writer.archive, chan, str(folder))
        if len(rows) > common.DAY_PART_EVENTS:
            _split_day(writer.archive, skeletons.folder, chan, day, rows)
            written += 1
            continue
        page = skeletons.page(day.day, rows, day.neighbours, day.gaps)
        path = f"{skeletons.folder}/{_spelled(day.day)[0]}.html"
        _write(path, page, mkdir=False, unknown=day.unknown)
        written += 1
    return written


def _split_day(
    archive: Archive, folder: str, chan: ChannelInfo, day: _Day, rows: list[EventRow]
) -> None:
    """Write a day of more events than a part holds as the server shows it, part after
    part (through the template: such days are few)."""
    size = common.DAY_PART_EVENTS
    parts = -(-len(rows) // size)
    name = _spelled(day.day)[0]
    for number in range(1, parts + 1):
        chunk = rows[(number - 1) * size : number * size]
        end = rows[number * size][0] if number < parts else None
        part = DayPart(number, parts, len(rows), size)
        recs = [
            Record(eid, chan.network, chan.name, kind, nick, text, target or "", uh or "")
            for eid, _, kind, nick, text, target, uh in chunk
        ]
        page = archive.day_html(
            chan, day.day, _LINKS, UTC, "UTC", records=recs, neighbours=day.neighbours,
            sources=False, gaps=part_gaps(day.gaps, part, chunk[0][0], end), part=part,
        )  # fmt: skip
        path = f"{folder}/{name}.html" if number == 1 else f"{folder}/{name}.p{number}.html"
        _write(path, page, mkdir=False, unknown=day.unknown)


_LINKS = Links(static=True, depth=2)
#: a day, previous and next day no log holds: a channel's page skeleton is rendered with
#: them, and each day's page replaces them (see _Skeletons)
_SENTINELS = (date(1111, 11, 11), date(1111, 11, 12), date(1111, 11, 13))
_LINES_MARK = "\x00lines\x00"


class _Skeletons:
    """A channel's static day pages without a template run per page.

    The template is rendered once per channel (and per "has a previous / next day" pair)
    with sentinel dates and a mark where the lines go; a day's page is that skeleton with
    the dates put in and its lines between. Every page equals what the template gives
    (tests/test_web_html.py compares them); a channel, network or site name that could
    hold a sentinel date makes every page go through the template instead.
    """

    def __init__(self, archive: Archive, chan: ChannelInfo, folder: str) -> None:
        self.archive = archive
        self.chan = chan
        self.usable = not any("1111-11-1" in t for t in (chan.name, chan.network, archive.title))
        self._made: dict[tuple[bool, bool], list[str]] = {}
        #: where the channel's pages go
        self.folder = folder

    def page(
        self,
        day: date,
        rows: list[EventRow],
        neighbours: tuple[date | None, date | None],
        gaps: Sequence[Gap] = (),
    ) -> bytes:
        if not self.usable:
            chan = self.chan
            recs = [
                Record(eid, chan.network, chan.name, kind, nick, text, target or "", uh or "")
                for eid, _, kind, nick, text, target, uh in rows
            ]
            return self.archive.day_html(
                chan, day, _LINKS, UTC, "UTC", records=recs, neighbours=neighbours,
                sources=False, gaps=gaps,
            )  # fmt: skip
        prev, nxt = neighbours
        shape = (prev is not None, nxt is not None)
        parts = self._made.get(shape)
        if parts is None:
            html = self.archive.day_html(
                self.chan,
                _SENTINELS[0],
                _LINKS,
                UTC,
                "UTC",
                records=(),
                neighbours=(_SENTINELS[1] if prev else None, _SENTINELS[2] if nxt else None),
                sources=False,
                lines=Markup(_LINES_MARK),
            ).decode("utf-8")
            assert _LINES_MARK in html, "the day template lost its lines"
            # literal text at even indexes, a sentinel (or the lines' mark) at odd ones
            parts = self._made[shape] = _SLOTS.split(html)
        real: dict[str, str] = {}
        for (iso_mark, long_mark), when in zip(_SPELLED_SENTINELS, (day, prev, nxt), strict=True):
            if when is not None:
                real[iso_mark], real[long_mark] = _spelled(when)
        real[_LINES_MARK] = rows_html(rows, UTC, self.chan.name, gaps, day)
        return "".join([real[p] if i & 1 else p for i, p in enumerate(parts)]).encode("utf-8")


#: how the day template spells a day in full (day.html's heading)
_LONG = "%A %Y-%m-%d"


@functools.lru_cache(maxsize=1024)
def _spelled(day: date) -> tuple[str, str]:
    """``day`` as the day template writes it, as a date and in full (a day is a page's
    own and its neighbours' next to it: three pages)."""
    return day.isoformat(), day.strftime(_LONG)


_SPELLED_SENTINELS = tuple(_spelled(d) for d in _SENTINELS)
#: where a skeleton's sentinels and lines go (a day in full before its date alone)
_SLOTS = re.compile(
    "("
    + "|".join(re.escape(d.strftime(_LONG)) for d in _SENTINELS)
    + "|"
    + "|".join(re.escape(d.isoformat()) for d in _SENTINELS)
    + "|"
    + re.escape(_LINES_MARK)
    + ")"
)


__all__ = ["MANIFEST", "Written", "default_jobs", "write_site"]
