"""``logbot html``: the site's pages as files, rewritten only where something changed.

Layout (names as on disk, not URL-encoded): ``DIR/index.html``,
``DIR/{network}/{channel}/index.html`` (the calendar), ``DIR/{network}/{channel}/
{YYYY-MM-DD}.html`` (UTC days), the ``.txt`` and ``.json`` beside each day, and
``DIR/static/`` (CSS). ``DIR/.logbot-html.json`` remembers each day's event count, newest
id and neighbours: a rerun rewrites a day only when one of them changed (new lines, or a
new day next to it), and a channel's calendar only when one of its days did.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from logbot import __version__
from logbot.render import json_line
from logbot.web.site import Archive, Links, disk_name, log_line

MANIFEST = ".logbot-html.json"


@dataclass
class Written:
    """What a run did: pages written and days left as they were."""

    days_written: int = 0
    days_kept: int = 0
    channels: int = 0


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically: a web server never serves half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_site(
    db: str | None,
    out: Path,
    *,
    channels: Sequence[str] = (),
    title: str = "IRC logs",
    noindex: bool = True,
) -> Written:
    """Write (or bring up to date) the static site for ``db`` in ``out``."""
    archive = Archive(db, channels=channels, title=title, noindex=noindex)
    try:
        return _write_site(archive, out)
    finally:
        archive.close()


def _write_site(archive: Archive, out: Path) -> Written:
    manifest_path = out / MANIFEST
    old: dict[str, list[object]] = {}
    try:
        saved = json.loads(manifest_path.read_text("utf-8"))
        if saved.get("version") == __version__ and saved.get("noindex") == archive.noindex:
            old = saved.get("days", {})
    except (OSError, ValueError, AttributeError):
        pass
    done = Written()
    # read first: a database that cannot be read leaves DIR as it was
    chans = archive.channels(fresh=True)
    for item in resources.files("logbot.web").joinpath("static").iterdir():
        if item.name.endswith(".css"):
            _write(out / "static" / item.name, item.read_bytes())
    _write(out / "index.html", archive.index_html(Links(static=True)))
    new: dict[str, list[object]] = {}
    links = Links(static=True, depth=2)
    for chan in chans:
        done.channels += 1
        folder = out / disk_name(chan.network) / disk_name(chan.name)
        stamps = archive.browser.day_stamps(chan.id, UTC)
        days = sorted(stamps)
        changed = False
        for i, day in enumerate(days):
            prev = days[i - 1].isoformat() if i else None
            nxt = days[i + 1].isoformat() if i + 1 < len(days) else None
            stamp = stamps[day]
            key = f"{chan.network}\x00{chan.name}\x00{day.isoformat()}"
            facts: list[object] = [stamp.events, stamp.last_id, prev, nxt]
            new[key] = facts
            page = folder / f"{day.isoformat()}.html"
            if old.get(key) == facts and page.exists():
                done.days_kept += 1
                continue
            changed = True
            done.days_written += 1
            _write(page, archive.day_html(chan, day, links, UTC, "UTC"))
            recs = archive.browser.day_events(chan, day, UTC)
            _write(
                folder / f"{day.isoformat()}.txt",
                "".join(log_line(r, UTC) + "\n" for r in recs).encode("utf-8", "surrogateescape"),
            )
            _write(
                folder / f"{day.isoformat()}.json",
                "".join(json_line(r) + "\n" for r in recs).encode("utf-8", "surrogateescape"),
            )
        if changed or not (folder / "index.html").exists():
            counts = {d: s.events for d, s in stamps.items()}
            _write(
                folder / "index.html",
                archive.calendar_html(chan, links, UTC, "UTC", counts),
            )
    _write(
        manifest_path,
        json.dumps(
            {
                "version": __version__,
                "noindex": archive.noindex,
                "written": datetime.now(UTC).isoformat(),
                "days": new,
            }
        ).encode(),
    )
    return done


__all__ = ["MANIFEST", "Written", "write_site"]
