"""A small archive for the web tests: two days of #x (with hostile text), #y, #secret."""

from __future__ import annotations

from datetime import UTC, datetime

from logbot.events import Event, Kind
from logbot.storage import migrate
from logbot.storage.engine import make_engine
from logbot.storage.rows import KeyAllocator, event_row
from logbot.storage.writer import EventWriter

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

HOSTILE = (
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "click <a href=\"javascript:document.title='pwned'\">me</a> javascript:alert(1)",
    "bidi \u202eevil\u202c done",
)


def _t(day: int, h: int, m: int, s: int, us: int = 0) -> datetime:
    return datetime(2026, 11, day, h, m, s, us, tzinfo=UTC)


def events() -> list[Event]:
    net = "libera"
    x = "#x"
    out = [
        Event(_t(27, 9, 0, 0), net, x, Kind.MESSAGE, "alice", "good morning"),
        Event(_t(27, 9, 0, 5), net, x, Kind.MESSAGE, "bob", "morning alice"),
        Event(_t(28, 20, 35, 20), net, x, Kind.JOIN, "carol", userhost="carol@host"),
        Event(_t(28, 20, 35, 22), net, x, Kind.MESSAGE, "alice", "hello world"),
        # two in the same second, and the same microsecond
        Event(_t(28, 20, 35, 22), net, x, Kind.MESSAGE, "bob", "same second"),
        Event(_t(28, 20, 35, 23), net, x, Kind.ACTION, "alice", "waves"),
        Event(_t(28, 20, 35, 30), net, x, Kind.NICK, "alice", target="alice_"),
        Event(_t(28, 20, 35, 31), net, x, Kind.MESSAGE, "alice_", "I am still alice"),
        Event(_t(28, 20, 36, 0), net, x, Kind.MESSAGE, "bob", "see https://example.com/a_(b). ok"),
        Event(_t(28, 20, 36, 1), net, x, Kind.MESSAGE, "bob", "\x02bold\x02 \x0304red\x03 plain"),
        Event(_t(28, 20, 36, 2), net, x, Kind.PART, "carol", "bye", userhost="carol@host"),
    ]
    for i, text in enumerate(HOSTILE):
        out.append(Event(_t(28, 21, 0, i), net, x, Kind.MESSAGE, "<b>mallory</b>", text))
    out.append(Event(_t(28, 23, 30, 0), net, x, Kind.MESSAGE, "bob", "late evening deploy"))
    out.append(Event(_t(26, 10, 0, 0), net, "#y", Kind.MESSAGE, "dave", "in y"))
    out.append(Event(_t(28, 10, 0, 0), net, "#secret", Kind.MESSAGE, "eve", "secret deploy"))
    # today
    out.append(Event(_t(29, 11, 0, 0), net, x, Kind.MESSAGE, "alice", "today deploy"))
    return out


def fill(db: str, evs: list[Event] | None = None) -> None:
    """Create ``db`` at the newest schema and write the events."""
    engine = make_engine(db)
    try:
        migrate.upgrade(engine)
        writer = EventWriter(engine)
        keys = KeyAllocator()
        writer.write([event_row(e, keys.key_for(e.time)) for e in (evs or events())])
        writer.close()
    finally:
        engine.dispose()
