"""Where the daemon's database jobs run, and how long a caller waits for one.

sqlite3 and psycopg calls do not yield to gevent, so the store (signaling.state.store) runs
each job in an OS thread and the calling greenlet waits for it. A database that accepts
bytes and never answers (a stopped server, a hung pooler) raises nothing, so every wait is
bounded: past its deadline the caller gets `DatabaseOverdue`, which callers treat as an
outage (a client hears `database_unavailable`, or 1011/1013 for a hello), and the job is
abandoned:

- a job that has not started by then never starts;
- a job still running cannot commit any more (its commit raises `DatabaseOverdue`, which
  rolls it back), so a request its client was told failed does not take effect later; one
  that already committed stands, and its events reach clients through the outbox;
- a job stuck in a command the database never answers is ended by the database watchdog
  (app/dbwatchdog.py), which frees its thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent
from gevent.monkey import get_original
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.outage import DatabaseOverdue

T = TypeVar("T")
Runner = Callable[[Callable[[], Any]], Any]

# The job running in this OS thread, if any: whether its caller has stopped waiting.
_current = get_original("threading", "local")()


def threadpool_runner(threads: int, deadline: float | None = None) -> Runner:
    """Run jobs in gevent's threadpool (at most `threads` at once); the caller's greenlet
    waits, for at most `deadline` seconds."""
    pool = gevent.get_hub().threadpool
    pool.maxsize = threads
    return bounded(pool, deadline)


def dedicated_runner(deadline: float | None = None) -> Runner:
    """Run jobs in a thread of their own, so they never queue behind the shared pool's."""
    from gevent.threadpool import ThreadPool

    return bounded(ThreadPool(1), deadline)


def bounded(pool: Any, deadline: float | None) -> Runner:
    """`pool.apply`, except that the caller waits at most `deadline` seconds (None: for
    ever) and then abandons its job, as the module docstring says."""
    if deadline is None:
        return pool.apply
    overdue_message = f"the database did not answer within {deadline:g} s"  # once, not a job

    def run(job: Callable[[], T]) -> T:
        abandoned = False
        result = None

        def unless_abandoned() -> T | None:
            if abandoned:
                return None
            _current.abandoned = lambda: abandoned
            try:
                return job()
            finally:
                _current.abandoned = None

        # The deadline also bounds the wait for a free thread (a full pool blocks spawn()).
        # Our own exception, so that a gevent.Timeout of the caller's passes as itself.
        overdue = DatabaseOverdue(overdue_message)
        try:
            with gevent.Timeout(deadline, overdue):
                result = pool.spawn(unless_abandoned)
                return result.get()
        finally:
            abandoned = result is None or not result.ready()

    return run


@event.listens_for(Session, "before_commit")
def _no_commit_once_abandoned(_session: Session) -> None:
    """Refuse the commit of a job whose caller has stopped waiting (see the module)."""
    abandoned = getattr(_current, "abandoned", None)
    if abandoned is not None and abandoned():
        raise DatabaseOverdue("abandoned by its caller: not committed")
