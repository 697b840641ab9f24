"""IRCv3 ``draft/message-redaction``: the cap is asked for, a REDACT becomes a REDACT event
(StringTransport), and the writer deletes the stored message, full-text index included,
recording who redacted it when but not its text (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from logbot.events import Event, Kind
from logbot.storage.rows import KeyAllocator, event_row
from logbot.storage.writer import EventWriter
from tests.test_irc_protocol import SERVER, Bot, ev

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_redaction_cap_is_requested_when_offered() -> None:
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :draft/message-redaction server-time")
    assert bot.sent() == ["CAP REQ :draft/message-redaction server-time"]


def test_a_redact_in_a_joined_channel_is_an_event_with_the_msgid() -> None:
    bot = Bot()
    bot.ready()
    bot.feed(":alice!~a@h REDACT #x m1 :posted by mistake", ":op!~o@h REDACT #X m2")
    assert bot.take_events() == [
        ev(Kind.REDACT, "#x", "alice", bot.now, text="posted by mistake", msgid="m1"),
        ev(Kind.REDACT, "#x", "op", bot.now, msgid="m2"),
    ]


def test_a_redact_of_a_private_message_or_another_channel_is_ignored() -> None:
    bot = Bot()
    bot.ready()
    bot.feed(
        ":alice!~a@h REDACT logbot m1 :oops",
        ":alice!~a@h REDACT #elsewhere m2",
        ":alice!~a@h REDACT #x",
    )
    assert bot.take_events() == []


def _message(i: int, text: str, msgid: str) -> Event:
    return Event(T0 + timedelta(seconds=i), "net", "#x", Kind.MESSAGE, "bob", text, msgid=msgid)


def _redact(i: int, msgid: str, reason: str = "") -> Event:
    return Event(T0 + timedelta(seconds=i), "net", "#x", Kind.REDACT, "op", reason, msgid=msgid)


def test_a_redact_deletes_the_stored_message_and_records_who_and_when(engine: sa.Engine) -> None:
    writer = EventWriter(engine)
    try:
        keys = KeyAllocator()

        def write(*evs: Event) -> int:
            result = writer.write([event_row(e, keys.key_for(e.time)) for e in evs])
            return result.redacted

        assert write(_message(0, "my phone is 555 pineapple", "m1"), _message(1, "ok", "m2")) == 0
        # the second batch redacts m1, and m3 of the same batch
        assert (
            write(
                _message(2, "another pineapple", "m3"),
                _redact(3, "m1", "personal data"),
                _redact(4, "m3"),
                _redact(5, "never-stored"),
            )
            == 2
        )
        writer.close()
        with engine.connect() as conn:
            texts = [r[0] for r in conn.execute(sa.text("SELECT text FROM events"))]
            assert texts == ["ok"]
            if engine.dialect.name == "sqlite":
                # the index is a table of its own only on SQLite (PostgreSQL's goes with the row)
                fts = conn.exec_driver_sql(
                    "SELECT count(*) FROM events_fts WHERE events_fts MATCH 'pineapple'"
                ).scalar()
                assert fts == 0
            rows = list(
                conn.execute(
                    sa.text(
                        "SELECT msgid, at_us, nick, reason, deleted FROM redactions ORDER BY id"
                    )
                )
            )
            at = int(T0.timestamp() * 1_000_000)
            assert rows == [
                ("m1", at + 3_000_000, "op", "personal data", 1),
                ("m3", at + 4_000_000, "op", "", 1),
                ("never-stored", at + 5_000_000, "op", "", 0),
            ]
            assert "pineapple" not in str(rows)
            assert conn.execute(sa.text("SELECT deletions FROM changes")).scalar() == 1
    finally:
        writer.close()
