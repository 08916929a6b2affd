"""Retrying a dependency quietly: a doubling backoff, and one outage log per dependency.

Every daemon loop that touches the database runs through `every()`: while its task fails it
waits 25 ms, 50 ms, ... up to 2 s between tries instead of its usual interval, and its
failures go to the dependency's `Outage`, which logs one line when the outage starts, one a
minute while it lasts (with the number of failures), and one when the first success ends
it. Several loops (and failed `hello`s) share one `Outage`, so a database cut reads as one
story in the log, not one traceback per try.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent

from app.outage import UNAVAILABLE, Backoff, Outage

T = TypeVar("T")


def every(
    interval: float,
    task: Callable[[], Any],
    outage: Outage,
    pause: Callable[[], Any] | None = None,
) -> gevent.Greenlet:
    """Run `task` every `interval` s forever in a greenlet, backing off while it fails.

    `pause`, if given, is called between successful rounds instead of sleeping `interval`
    (the outbox waits for a wake-up that way, signaling.outbox.wake).

    Unavailability errors go to `outage` (the dependency's); any other exception is a bug of
    the task and goes to an outage log of its own, so it is not mistaken for the database.
    """
    name = _name(task)
    bugs = Outage(f"background task {name}")
    backoff = Backoff()

    def loop() -> None:
        while True:
            try:
                task()
            except Exception as exc:  # the next round is the retry; the outage log tells
                (outage if isinstance(exc, UNAVAILABLE) else bugs).failed(exc, name)
                gevent.sleep(backoff.next_delay())
                continue
            outage.succeeded(name)
            bugs.succeeded(name)
            backoff.reset()
            if pause is None:
                gevent.sleep(interval)
            else:
                pause()

    return gevent.spawn(loop)


def raised_in_caller(run: Callable[[Callable[[], T]], T]) -> Callable[[Callable[[], T]], T]:
    """Wrap a threadpool runner so a job's exception is raised only in the greenlet waiting
    for it: gevent's hub would also print the traceback of every job that raises, which
    during a database outage is one traceback per try."""

    def run_job(job: Callable[[], T]) -> T:
        def guarded() -> tuple[Any, BaseException | None]:
            try:
                return job(), None
            except Exception as exc:
                return None, exc

        result, error = run(guarded)  # type: ignore[arg-type]
        if error is not None:
            raise error
        return result

    return run_job


def _name(task: Callable[[], Any]) -> str:
    """A task's name for the log: its function's, also through functools.partial."""
    function = getattr(task, "func", task)
    return getattr(function, "__name__", None) or repr(task)
