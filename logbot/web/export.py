"""``logbot html``: the site's pages as files, rewritten only where something changed.

Layout (names as on disk, not URL-encoded): ``DIR/index.html``,
``DIR/{network}/{channel}/index.html`` (the calendar), ``DIR/{network}/{channel}/
{YYYY-MM-DD}.html`` (UTC days) and ``DIR/static/`` (CSS). Each channel is read once, in one
streamed query, and split into days here. ``DIR/.logbot-html.json`` remembers each day's
event count, newest id and neighbours: a rerun rewrites a day only when one of them
changed (new lines, or a new day next to it), and a channel's calendar only when one of its
days did.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

from markupsafe import Markup

from logbot import __version__
from logbot.render import Record
from logbot.settings import Settings
from logbot.storage.browse import ChannelInfo
from logbot.storage.gaps import Gap
from logbot.storage.names import KEY_SPREAD
from logbot.web.common import Links, disk_name
from logbot.web.lines import lines_html
from logbot.web.site import Archive

_EPOCH_DAY = datetime(1970, 1, 1, tzinfo=UTC)
#: event ids per UTC day
_DAY_KEYS = 86_400 * 1_000_000 * KEY_SPREAD

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

    ``jobs`` > 1 writes channels in that many processes (each with its own connection),
    the big channels spread over them first. ``settings``: whose ``publish`` keys say
    which channels are written (not ``private``) and listed (``public``); None: all public.
    """
    archive = Archive(
        db,
        channels=channels,
        title=title,
        noindex=noindex,
        index_channels=index_channels,
        settings=settings,
    )
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
        if jobs <= 1 or len(chans) <= 1:
            new, done = _write_channels(archive, out, chans, old)
        else:
            new, done = _in_parallel(archive, out, chans, old, jobs)
    finally:
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


def _in_parallel(
    archive: Archive,
    out: Path,
    chans: list[ChannelInfo],
    old: dict[str, list[object]],
    jobs: int,
) -> tuple[dict[str, list[object]], Written]:
    sizes = archive.browser.channel_sizes()
    parts: list[list[ChannelInfo]] = [[] for _ in range(min(jobs, len(chans)))]
    loads = [0] * len(parts)
    for chan in sorted(chans, key=lambda c: -sizes.get(c.id, 0)):
        i = loads.index(min(loads))
        parts[i].append(chan)
        loads[i] += sizes.get(chan.id, 0)
    new: dict[str, list[object]] = {}
    done = Written()
    # fork: the children inherit the loaded modules; each opens its own connection
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(len(parts), mp_context=context) as pool:
        futures = [
            pool.submit(
                _worker,
                archive.db,
                archive.title,
                (archive.noindex, tuple(archive.indexed)),
                archive.settings,
                out,
                part,
                old,
            )
            for part in parts
        ]
        for future in futures:
            part_new, part_done = future.result()
            new.update(part_new)
            done.days_written += part_done.days_written
            done.days_kept += part_done.days_kept
            done.channels += part_done.channels
    return new, done


def _worker(
    db: str | None,
    title: str,
    indexing: tuple[bool, tuple[str, ...]],
    settings: Settings | None,
    out: Path,
    chans: list[ChannelInfo],
    old: dict[str, list[object]],
) -> tuple[dict[str, list[object]], Written]:
    archive = Archive(
        db, title=title, noindex=indexing[0], index_channels=indexing[1], settings=settings
    )
    try:
        return _write_channels(archive, out, chans, old)
    finally:
        archive.close()


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


def _day(
    pages: _Skeletons,
    chan: ChannelInfo,
    folder: Path,
    old: dict[str, list[object]],
    new: dict[str, list[object]],
    done: Written,
    day: date,
    recs: list[Record],
    neighbours: tuple[date | None, date | None],
    gaps: Sequence[Gap] = (),
) -> bool:
    """Write one day's page unless the manifest says it is as it was; True if written.

    ``gaps``: the channel's gaps, oldest first; the page shows those overlapping the day.
    """
    key = f"{chan.network}\x00{chan.name}\x00{day.isoformat()}"
    prev, nxt = neighbours
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    shown = [g for g in gaps if g.start < end and (g.end is None or g.end > start)]
    facts: list[object] = [
        len(recs),
        recs[-1].id,
        prev.isoformat() if prev else None,
        nxt.isoformat() if nxt else None,
    ]
    if shown:
        # a gap can close or shrink (backfill) while the day's events stay as they were
        facts.append([[g.start.isoformat(), g.end and g.end.isoformat(), g.reason] for g in shown])
    new[key] = facts
    page = folder / f"{day.isoformat()}.html"
    if old.get(key) == facts and page.exists():
        done.days_kept += 1
        return False
    done.days_written += 1
    _write(page, pages.page(day, recs, neighbours, shown), mkdir=False)
    return True


def _write_channels(
    archive: Archive, out: Path, chans: list[ChannelInfo], old: dict[str, list[object]]
) -> tuple[dict[str, list[object]], Written]:
    done = Written()
    new: dict[str, list[object]] = {}
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
        counts: dict[date, int] = {}
        changed = False
        pages = _Skeletons(archive, chan)
        gaps = archive.browser.gaps(chan)
        # one streamed read of the channel, split into UTC days; a day is written once the
        # next one is known (its "next day" link)
        held: tuple[date, list[Record]] | None = None
        prev: date | None = None

        day_end = 0  # the first id after the held day
        for rec in archive.browser.channel_events(chan):
            if rec.id < day_end:
                held[1].append(rec)  # type: ignore[index]
                continue
            number = rec.id // _DAY_KEYS
            day_end = (number + 1) * _DAY_KEYS
            day = (_EPOCH_DAY + timedelta(days=number)).date()
            if held is not None:
                changed |= _day(pages, chan, folder, old, new, done, *held, (prev, day), gaps)
                counts[held[0]] = len(held[1])
                prev = held[0]
            held = (day, [rec])
        if held is not None:
            changed |= _day(pages, chan, folder, old, new, done, *held, (prev, None), gaps)
            counts[held[0]] = len(held[1])
        for day_text in earlier.get((chan.network, chan.name), ()):
            if f"{chan.network}\x00{chan.name}\x00{day_text}" not in new:
                (folder / f"{day_text}.html").unlink(missing_ok=True)
                changed = True
        if changed or not (folder / "index.html").exists():
            _write(folder / "index.html", archive.calendar_html(chan, _LINKS, UTC, "UTC", counts))
    return new, done


__all__ = ["MANIFEST", "Written", "write_site"]
