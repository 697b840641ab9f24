"""Tasks run in worker processes that never outlive the run: ``logbot html --jobs N``.

:func:`run` starts N processes (forked when this process runs no other thread, which
costs nothing; else spawned: nothing a worker needs comes from the fork, its setup and
tasks arrive pickled, so either start method gives the same run), hands them tasks
from one queue (whoever is free takes the next: work stays balanced however uneven the
tasks are) and yields their results as they come. Whatever ends the run stops the
workers first: an error in a worker (raised here as the same exception, so the caller
reports it as it would in one process), a worker that died, Ctrl-C (workers ignore
SIGINT; the parent raises KeyboardInterrupt as usual), SIGTERM (the workers are
stopped, then the parent dies of the signal as it would have). A worker whose parent
is gone (even killed with SIGKILL) exits by itself.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["WorkerDied", "run"]

#: the end of the tasks
_NONE = object()
#: how long a stopped worker gets before it is killed
_STOP_GRACE = 5.0


class WorkerDied(OSError):
    """A worker process ended without finishing its tasks (killed, out of memory)."""


class _Stopped(BaseException):
    """SIGTERM arrived in the parent while workers ran."""


def run(
    jobs: int,
    setup: Callable[..., object],
    setup_args: tuple[Any, ...],
    task: Callable[[Any], Any],
    tasks: Iterable[Any],
    *,
    start_method: str | None = None,
) -> Iterator[Any]:
    """``task(t)`` for every ``t`` of ``tasks`` in ``jobs`` processes, each of which calls
    ``setup(*setup_args)`` first; results in the order they finish. ``setup``, ``task``
    (module-level functions), their arguments and results must pickle. The workers are
    this process's children (their CPU time is counted in its ``RUSAGE_CHILDREN``)."""
    if start_method is None:
        forkable = "fork" in multiprocessing.get_all_start_methods()
        start_method = "fork" if forkable and threading.active_count() == 1 else "spawn"
    context: Any = multiprocessing.get_context(start_method)
    todo = iter(tasks)
    first = next(todo, _NONE)
    if first is _NONE:
        # nothing to do: no process started
        return
    queue = context.Queue()
    workers: list[tuple[Any, Connection]] = []
    previous = _on_sigterm()
    stopped = False
    try:
        # a Ctrl-C while a worker starts waits until it ignores Ctrl-C (below, in _serve)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
        try:
            for _ in range(jobs):
                ours, theirs = context.Pipe(duplex=False)
                proc = context.Process(
                    target=_serve, args=(queue, theirs, setup, setup_args, task), daemon=True
                )
                proc.start()
                theirs.close()
                workers.append((proc, ours))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        count = 0
        for item in itertools.chain([first], todo):
            queue.put(item)
            count += 1
        for _ in workers:
            queue.put(None)
        yield from _results(workers, count)
    except _Stopped:
        stopped = True
        raise
    finally:
        _stop(workers)
        queue.close()
        queue.cancel_join_thread()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if stopped:
            # die of the signal, as a run without workers would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def _results(workers: list[tuple[Any, Connection]], count: int) -> Iterator[Any]:
    """Yield ``count`` results; raise a worker's error, or :class:`WorkerDied`."""
    alive = {proc.sentinel: (proc, conn) for proc, conn in workers}
    while count:
        conns = [conn for _, conn in alive.values() if not conn.closed]
        for ready in wait([*conns, *alive]):
            if isinstance(ready, Connection):
                for value in _received(ready):
                    count -= 1
                    yield value
                continue
            proc, conn = alive.pop(ready)
            proc.join()
            # what it sent before it ended is still in the pipe
            for value in _received(conn):
                count -= 1
                yield value
            if count and (proc.exitcode != 0 or not alive):
                raise WorkerDied(f"a worker process ended with status {proc.exitcode}")


def _received(conn: Connection) -> Iterator[Any]:
    """The results waiting in ``conn`` (a worker's error raised); closes it at its end."""
    while not conn.closed and conn.poll():
        try:
            status, value = conn.recv()
        except EOFError:
            conn.close()
            return
        if status == "error":
            raise value
        yield value


def _stop(workers: list[tuple[Any, Connection]]) -> None:
    for proc, _ in workers:
        if proc.is_alive():
            proc.terminate()
    for proc, conn in workers:
        proc.join(_STOP_GRACE)
        if proc.is_alive():
            proc.kill()
            proc.join()
        if not conn.closed:
            conn.close()


def _on_sigterm() -> Any:
    """Make SIGTERM raise :class:`_Stopped` here (main thread only); the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(_signum: int, _frame: object) -> None:
        raise _Stopped

    return signal.signal(signal.SIGTERM, stop)


def _serve(
    queue: Any,
    results: Connection,
    setup: Callable[..., object],
    setup_args: tuple[Any, ...],
    task: Callable[[Any], Any],
) -> None:
    """A worker: set up, then run tasks until the queue says None."""
    # Ctrl-C reaches the whole process group: the parent alone decides what it stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a forked worker inherited the parent's handler
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    try:
        setup(*setup_args)
        while (item := queue.get()) is not None:
            results.send(("ok", task(item)))
    except Exception as exc:
        try:
            results.send(("error", exc))
        except (pickle.PicklingError, TypeError, AttributeError):
            results.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        results.close()


def _exit_with(sentinel: int) -> None:
    """Exit the worker as soon as its parent is gone (the sentinel becomes readable)."""
    wait([sentinel])
    os._exit(1)
