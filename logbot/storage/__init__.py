"""Storage: the schema and everything that opens, creates, migrates and writes the database.

- :mod:`~logbot.storage.names`: the facts search shares without importing SQLAlchemy
  (time keys, column sizes, index and full-text names, the default path).
- :mod:`~logbot.storage.schema`: the tables (the single truth), ``time_key``/``key_time``,
  ``channel_key``.
- :mod:`~logbot.storage.engine`: ``make_engine(target)``, ``default_db_path()``,
  ``StorageError`` and the SQLite pragmas.
- :mod:`~logbot.storage.fts`: the full-text index per dialect and what a search must say to
  use it.
- :mod:`~logbot.storage.migrate`: ``upgrade(engine)`` (create and stamp, or migrate).
- :mod:`~logbot.storage.rows`: ``Row``, ``event_row`` and ``KeyAllocator``: events made
  ready for storage, with their time keys.
- :mod:`~logbot.storage.writer`: ``EventWriter``, the one way rows get into ``events``;
  :mod:`~logbot.storage.inserts`: its bulk INSERT, one way per database.
- :mod:`~logbot.storage.masking`: ``mask_target(target)``, the one rule hiding a database
  password wherever a target is shown (standard library only).

Nothing here imports Twisted or the IRC side; :mod:`logbot.backends.sql` runs the writer
off the reactor.
"""
