"""The SQL backend's timings and bounds, its writer's states and the moves between them.

See :mod:`logbot.backends.sql` for what they drive.
"""

from __future__ import annotations

import enum

#: a batch leaves when this many events wait (or at the next tick)
BATCH_SIZE = 1_000
#: seconds between ticks: the longest an event waits before its batch leaves
BATCH_INTERVAL = 0.25
#: events held in memory before the service is asked to stop reading IRC (a writer that
#: cannot keep up), or they go to the spool; also the largest transaction. A waiting event
#: costs about 1 KB with everything around it (twice while its transaction runs): 8,000
#: cost ~5 MB more peak memory in a flood than 4,000 and made a transaction wait longer
#: to be searchable, for no fewer microseconds per row (bench/README.md, issue #15).
MAX_MEMORY_ROWS = 4_000
#: retry backoff after a failed write: first delay, factor, cap (seconds)
RETRY_FIRST = 0.5
RETRY_FACTOR = 2.0
RETRY_MAX = 5.0
#: seconds close() waits for the database before spooling what is left
CLOSE_TIMEOUT = 30.0
#: seconds a write may take before its events go to the spool (a connection that died
#: without a word: the TCP settings of logbot.storage.engine end it later). Above
#: SQLite's busy timeout, so a database merely locked by a reader is not a stall.
COMMIT_TIMEOUT = 20.0
#: PostgreSQL statement_timeout of the writer's connection, seconds (a server-side hang)
STATEMENT_TIMEOUT = 60.0
#: longest the service may stop reading IRC for a writer that is up but behind; past it
#: the waiting events go to the spool and reading resumes (a server's send queue is finite)
MAX_PRESSURE_SECONDS = 5.0


class State(enum.Enum):
    """Where the writer is; :data:`TRANSITIONS` lists every move it makes."""

    #: the database takes writes and no job runs
    IDLE = "idle"
    #: the database takes writes and a job (a batch or a spool segment) runs on the pool
    WRITING = "writing"
    #: the last job failed: waiting events go to the spool; a retry is scheduled
    WAITING = "waiting"
    #: the database was failing and a retry job runs
    RETRYING = "retrying"
    #: a job has not returned within COMMIT_TIMEOUT (a connection that died silently):
    #: its events went to the spool, as do new ones, until the job ends either way
    STALLED = "stalled"
    #: close() stopped waiting for the database; what it had not taken is spooled
    GAVE_UP = "gave-up"
    #: closed: no job starts any more (one that was running may still finish)
    CLOSED = "closed"


_S = State
#: every state change the backend makes; anything else is a bug (logged, never raised)
TRANSITIONS: dict[State, frozenset[State]] = {
    _S.IDLE: frozenset({_S.WRITING, _S.GAVE_UP, _S.CLOSED}),
    # a batch the database refuses is salvaged by a second job: WRITING again
    _S.WRITING: frozenset({_S.IDLE, _S.WRITING, _S.WAITING, _S.STALLED, _S.GAVE_UP, _S.CLOSED}),
    # a retry with nothing to write waits again
    _S.WAITING: frozenset({_S.RETRYING, _S.WAITING, _S.GAVE_UP, _S.CLOSED}),
    _S.RETRYING: frozenset({_S.IDLE, _S.RETRYING, _S.WAITING, _S.STALLED, _S.GAVE_UP, _S.CLOSED}),
    _S.STALLED: frozenset({_S.IDLE, _S.WAITING, _S.GAVE_UP, _S.CLOSED}),
    _S.GAVE_UP: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}
#: the states in which the database is known to take writes
UP = frozenset({_S.IDLE, _S.WRITING})
#: the states in which a job runs on the pool
BUSY = frozenset({_S.WRITING, _S.RETRYING, _S.STALLED})


def health_problem(state: State, spooled: int, waiting: int, bound: int) -> str | None:
    """What /healthz says is wrong with a writer in ``state``; None when nothing is."""
    if state is State.STALLED:
        return "database not answering (a write is stalled)"
    if state not in UP:
        return "database unavailable"
    if spooled:
        return f"{spooled} events spooled, not yet in the database"
    if waiting >= bound:
        return f"writer behind ({waiting} events waiting)"
    return None
