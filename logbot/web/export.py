"""``logbot html``: the site's pages as files, rewritten only where something changed.

Layout (names as on disk, not URL-encoded): ``DIR/index.html``,
``DIR/{network}/{channel}/index.html`` (the calendar), ``DIR/{network}/{channel}/
{YYYY-MM-DD}.html`` (UTC days) and ``DIR/static/`` (CSS). ``DIR/.logbot-html.json``
remembers each day's event count, newest id and neighbours: a rerun rewrites a day only
when one of them changed (new lines, or a new day next to it), and a channel's calendar
only when one of its days did. Those facts come from per-day counts (no event read);
the days to write are read in runs, one streamed query each, split into days here, in
this process or in ``--jobs`` worker processes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from markupsafe import Markup

from logbot import __version__
from logbot.render import Record
from logbot.settings import Settings
from logbot.storage.browse import UTC_DAY_KEYS, ChannelInfo
from logbot.storage.gaps import Gap
from logbot.web.common import Links, disk_name
from logbot.web.lines import lines_html
from logbot.web.site import Archive

_EPOCH_DAY = datetime(1970, 1, 1, tzinfo=UTC)
#: the events a task of ``--jobs`` writes at most (unless one day has more): small enough
#: that the processes finish together, big enough that a task's query and skeletons
#: cost little beside its pages
CHUNK_EVENTS = 20_000

MANIFEST = ".logbot-html.json"


@dataclass
class Written:
    """What a run did: pages written and days left as they were."""

    days_written: int = 0
    days_kept: int = 0
    channels: int = 0


def _write(path: Path, data: bytes, *, mkdir: bool = True) -> None:
    """Replace ``path`` atomically: a web server never serves half a page."""
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp"
    # os-level: one open and one write, without the buffered file object's layers (a
    # site is tens of thousands of pages)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


class _Day(NamedTuple):
    """A day page to write: its day, previous and next days, the gaps it shows."""

    day: date
    neighbours: tuple[date | None, date | None]
    gaps: tuple[Gap, ...]


class _Pages(NamedTuple):
    """A task: day pages of one channel, whose events are ids ``low`` to ``high``."""

    chan: ChannelInfo
    low: int
    high: int
    days: tuple[_Day, ...]


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
        try:
            saved = json.loads(manifest_path.read_text("utf-8"))
            if saved.get("version") == __version__ and saved.get("noindex") == indexing:
                old = saved.get("days", {})
        except (OSError, ValueError, AttributeError):
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
        tasks = _plan(archive, out, chans, old, new, done)
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
) -> Iterator[_Pages | _Calendar]:
    """The tasks that bring ``out`` up to date, channel after channel (the manifest's
    facts into ``new``, the counts into ``done``): a day is written when its facts (event
    count, newest id, neighbours, gaps shown) differ from the manifest's, a channel's
    calendar when one of its days was written or removed."""
    # the days an earlier run wrote, per channel: a day no longer in the database (its
    # lines forgotten or pruned) loses its page
    earlier: dict[tuple[str, str], list[str]] = {}
    for key in old:
        network, name, day_text = key.split("\x00")
        earlier.setdefault((network, name), []).append(day_text)
    for chan in chans:
        done.channels += 1
        folder = out / disk_name(chan.network) / disk_name(chan.name)
        folder.mkdir(parents=True, exist_ok=True)
        gaps = archive.browser.gaps(chan)
        days = [
            ((_EPOCH_DAY + timedelta(days=number)).date(), n, low, high)
            for number, n, low, high in archive.browser.utc_days(chan.id)
        ]
        counts = {day: n for day, n, _, _ in days}
        changed = False
        run: list[_Day] = []
        run_low = run_events = 0
        for i, (day, n, low, high) in enumerate(days):
            prev = days[i - 1][0] if i else None
            nxt = days[i + 1][0] if i + 1 < len(days) else None
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
            if old.get(key) == facts and (folder / f"{day.isoformat()}.html").exists():
                done.days_kept += 1
                if run:
                    yield _Pages(chan, run_low, days[i - 1][3], tuple(run))
                    run = []
                continue
            done.days_written += 1
            changed = True
            if not run:
                run_low, run_events = low, 0
            run.append(_Day(day, (prev, nxt), shown))
            run_events += n
            if run_events >= CHUNK_EVENTS:
                yield _Pages(chan, run_low, high, tuple(run))
                run = []
        if run:
            yield _Pages(chan, run_low, days[-1][3], tuple(run))
        for day_text in earlier.get((chan.network, chan.name), ()):
            if f"{chan.network}\x00{chan.name}\x00{day_text}" not in new:
                (folder / f"{day_text}.html").unlink(missing_ok=True)
                changed = True
        if changed or not (folder / "index.html").exists():
            yield _Calendar(chan, counts)


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
    chan = task.chan
    folder = writer.out / disk_name(chan.network) / disk_name(chan.name)
    if isinstance(task, _Calendar):
        _write(folder / "index.html", archive.calendar_html(chan, _LINKS, UTC, "UTC", task.counts))
        return 1
    pages = writer.skeletons.get(chan)
    if pages is None:
        pages = writer.skeletons[chan] = _Skeletons(archive, chan)
    wanted = {d.day: d for d in task.days}
    written = 0
    # one streamed read of the task's ids, split into UTC days: one day held at a time
    held: list[Record] = []
    held_day: date | None = None
    day_end = 0  # the first id after the held day
    for rec in archive.browser.channel_events(chan, task.low, task.high):
        if rec.id < day_end:
            held.append(rec)
            continue
        if held_day is not None:
            written += _day_page(pages, folder, wanted.get(held_day), held)
        number = rec.id // UTC_DAY_KEYS
        day_end = (number + 1) * UTC_DAY_KEYS
        held_day = (_EPOCH_DAY + timedelta(days=number)).date()
        held = [rec]
    if held_day is not None:
        written += _day_page(pages, folder, wanted.get(held_day), held)
    return written


def _day_page(pages: _Skeletons, folder: Path, day: _Day | None, recs: list[Record]) -> int:
    """Write one day's page (if the task asked for that day); 1 if written."""
    if day is None or not recs:
        return 0
    page = pages.page(day.day, recs, day.neighbours, day.gaps)
    _write(folder / f"{day.day.isoformat()}.html", page, mkdir=False)
    return 1


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

    def __init__(self, archive: Archive, chan: ChannelInfo) -> None:
        self.archive = archive
        self.chan = chan
        self.usable = not any("1111-11-1" in t for t in (chan.name, chan.network, archive.title))
        self._made: dict[tuple[bool, bool], list[str]] = {}

    def page(
        self,
        day: date,
        recs: list[Record],
        neighbours: tuple[date | None, date | None],
        gaps: Sequence[Gap] = (),
    ) -> bytes:
        if not self.usable:
            return self.archive.day_html(
                self.chan, day, _LINKS, UTC, "UTC", records=recs, neighbours=neighbours,
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
        for sentinel, when in zip(_SENTINELS, (day, prev, nxt), strict=True):
            if when is not None:
                real[sentinel.isoformat()] = when.isoformat()
                real[sentinel.strftime(_LONG)] = when.strftime(_LONG)
        real[_LINES_MARK] = lines_html(recs, UTC, self.chan.name, gaps, day)
        return "".join([real[p] if i & 1 else p for i, p in enumerate(parts)]).encode("utf-8")


#: how the day template spells a day in full (day.html's heading)
_LONG = "%A %Y-%m-%d"
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
