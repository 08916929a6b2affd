"""Retrying a dependency quietly: a doubling backoff, and one outage log per dependency.

Every daemon loop that touches the database runs through `every()`: while its task fails it
waits 25 ms, 50 ms, ... up to 2 s between tries instead of its usual interval, and its
failures go to the dependency's `Outage`, which logs one line when the outage starts, one a
minute while it lasts (with the number of failures), and one when the first success ends
it. Several loops (and failed `hello`s) share one `Outage`, so a database cut reads as one
story in the log, not one traceback per try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gevent
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app import logs

log = logging.getLogger(__name__)
T = TypeVar("T")

# What an unreachable, restarting or overloaded database raises. Anything else is a bug:
# its first occurrence in an outage is logged with its traceback.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    OSError,
)


class Backoff:
    """Delays that double from `first` up to `cap` while failures go on; `reset()` on success."""

    def __init__(self, first: float = 0.025, cap: float = 2.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next_delay(self) -> float:
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Outage:
    """One dependency ("database") as its users see it; logs when it goes and comes back.

    The outage lasts while any tracked reporter (a loop) is failing: a loop that keeps failing
    keeps it open even if another one gets through, so a flaky dependency cannot make the log
    flap. Untracked failures (a `hello` that could not be checked) are counted, and start an
    outage, but a reporter that may never try again cannot hold one open. Call from the
    daemon's hub (any greenlet), not from other OS threads.
    """

    def __init__(
        self, name: str, every: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name, self.every, self._clock = name, every, clock
        self.failures = 0
        self._failing: set[str] = set()
        self._down_since: float | None = None
        self._last_line = 0.0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, exc: BaseException, where: str, *, track: bool = True) -> None:
        """Count a failure of `where`. The first one of an outage is logged, with its
        traceback only if it is not a known unavailability error; then one line a minute."""
        now = self._clock()
        if track:
            self._failing.add(where)
        if self._down_since is None:
            self._down_since, self._last_line, self.failures = now, now, 1
            logs.event(
                log, "outage.start", logging.WARNING,
                None if isinstance(exc, UNAVAILABLE) else exc,
                what=self.name, error=type(exc).__name__, where=where, detail=_first_line(exc),
            )  # fmt: skip
            return
        self.failures += 1
        if now - self._last_line >= self.every:
            self._last_line = now
            logs.event(log, "outage.ongoing", logging.WARNING, what=self.name,
                       failures=self.failures, seconds=round(now - self._down_since))  # fmt: skip

    def succeeded(self, where: str) -> None:
        """`where` got through; once no tracked reporter is failing, the outage is over."""
        self._failing.discard(where)
        if self._down_since is None or self._failing:
            return
        logs.event(log, "outage.end", logging.WARNING, what=self.name,
                   seconds=round(self._clock() - self._down_since, 1),
                   failures=self.failures)  # fmt: skip
        self._down_since = None


def every(interval: float, task: Callable[[], Any], outage: Outage) -> gevent.Greenlet:
    """Run `task` every `interval` s forever in a greenlet, backing off while it fails.

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
            gevent.sleep(interval)

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
