"""The archive on the web: ``logbot web`` serves it, ``logbot html`` writes it as files.

- :mod:`logbot.web.site`: every page, from a request path to bytes (no server): it routes
  and answers the site-wide pages; :mod:`~logbot.web.days` (a day, its text and JSON,
  ``at``), :mod:`~logbot.web.calendar` (a channel's calendar) and
  :mod:`~logbot.web.searching` (search and ``/api/search``) answer the rest, built from
  :mod:`~logbot.web.common` (answers, links, headers) and :mod:`~logbot.web.lines` (a
  day's events as HTML and text lines);
- :mod:`logbot.web.server`: the twisted.web resource that serves them, reads off the
  reactor thread;
- :mod:`logbot.web.export`: ``logbot html``, the same pages as files, rewritten only where
  a day changed;
- :mod:`logbot.web.ircformat`: IRC text to escaped HTML.
"""
