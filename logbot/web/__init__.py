"""The archive on the web: ``logbot web`` serves it, ``logbot html`` writes it as files.

- :mod:`logbot.web.site`: every page, from a request path to bytes (no server);
- :mod:`logbot.web.server`: the twisted.web resource that serves them, reads off the
  reactor thread;
- :mod:`logbot.web.static`: ``logbot html``, the same pages as files, rewritten only where
  a day changed;
- :mod:`logbot.web.ircformat`: IRC text to escaped HTML.
"""
