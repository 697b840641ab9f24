"""The part of the reactor the IRC side uses, as typing Protocols.

Zope interfaces (``IReactorTime``) are opaque to mypy without its plugin; these say
what is called. The reactor and ``task.Clock`` both fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class DelayedCall(Protocol):
    def active(self) -> bool: ...
    def cancel(self) -> None: ...
    def getTime(self) -> float: ...


class Clock(Protocol):
    """The part of ``IReactorTime`` the bot uses (``task.Clock`` in tests)."""

    def seconds(self) -> float: ...
    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall: ...
