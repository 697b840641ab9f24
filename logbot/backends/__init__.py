"""Events in, storage out.

A backend knows nothing of IRC: it receives :class:`logbot.events.Event` records and
keeps them. Backends are found through the ``logbot.backends`` entry-point group; each
entry point names a factory ``create(target, options) -> Backend``.
"""

from logbot.backends.base import Backend, BackendOptions, FanOut, load_backend

__all__ = ["Backend", "BackendOptions", "FanOut", "load_backend"]
