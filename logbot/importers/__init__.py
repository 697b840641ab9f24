"""Reading other programs' logs (and logbot's own) for ``logbot import``.

API:

- :data:`FORMATS`: the names ``--format`` takes (``auto`` first); importing this package
  loads nothing else, so the command line can list them.

In :mod:`logbot.importers.sources`:

- :func:`plan` ``(paths, fmt, network=, channel=) -> Plan``: every file under ``paths``
  (directories are walked, sorted), each with its format (``auto``: recognised by content
  and path) and the network, channel and date its path says; ``network``/``channel``
  override. Raises :class:`SourceError` (one line) for a path that cannot be read, or a
  named file whose format or channel cannot be told.
- :func:`foreign_rows` ``(sources, tz, report) -> Iterator[RowBatch]``: storage rows for
  the events of text-log sources, batched for :func:`logbot.archive.import_batches`;
  ``report`` counts lines, and the lines no rule understood (never silently dropped).

One module per format (``znc``, ``irssi``, ``weechat``, ``hexchat``, ``limnoria``,
``irclogbot``), each with ``sniff(path, head)``, ``describe(path) -> Source`` and a
``Parser``; :mod:`logbot.importers.core` holds what they share.
"""

#: what ``logbot import --format`` takes; ``auto`` recognises each file by content and path
FORMATS = ("auto", "jsonl", "znc", "irssi", "weechat", "hexchat", "limnoria", "irclogbot")
