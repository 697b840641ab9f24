"""Network facts (:data:`logbot.events.Kind.FACT`) on their way to ``network_facts``.

The SQL backend keeps the latest value per network and name here and stores them as a
small job in its writer's lane, tried again each tick while the database is up until it
succeeds. A fact lost with the process is announced again on the next connection.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger(namespace="logbot.backends.sql")

#: facts by (network, name); an empty value removes the stored one
Facts = dict[tuple[str, str], str]


class FactKeeper:
    """The facts not stored yet, and at most one job storing them."""

    def __init__(self, db: str, store: Callable[[Facts], defer.Deferred[None]]) -> None:
        #: the database's display name, for the log
        self._db = db
        #: runs ``EventWriter.store_facts`` in the writer's lane
        self._run_store = store
        self._facts: Facts = {}
        self._storing = False
        self._warned = False

    def put(self, network: str, name: str, value: str) -> None:
        self._facts[(network, name)] = value

    def store(self) -> None:
        """Start a job storing the waiting facts, unless one runs or none waits."""
        if not self._facts or self._storing:
            return
        facts = dict(self._facts)
        self._storing = True
        d = self._run_store(facts)

        def done(_: object) -> None:
            self._storing = False
            self._warned = False
            for key, value in facts.items():
                if self._facts.get(key) == value:
                    del self._facts[key]

        def failed(failure: Failure) -> None:
            self._storing = False
            if not self._warned:
                self._warned = True
                log.warn(
                    "{db}: network facts not stored yet ({why}); trying again",
                    db=self._db,
                    why=failure.getErrorMessage(),
                )

        d.addCallbacks(done, failed)
