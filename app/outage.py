"""Riding out a dependency's outage quietly: a doubling backoff, and one outage log per dependency.

A loop that touches the database waits `Backoff.next_delay()` between failed tries instead of
its usual interval, and reports each failure to the dependency's `Outage`, which logs one line
when the outage starts (`outage.start`), one a minute while it lasts (`outage.ongoing`, with
the number of failures) and one when the first success ends it (`outage.end`), all with
`what=<dependency>`: an outage reads as one story in the log, not one traceback per try.
Plain Python (no gevent, no threads): the web app's workers and the daemon can both use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app import logs

log = logging.getLogger(__name__)


class DatabaseOverdue(Exception):
    """The caller stopped waiting for a database job past its bound: a database that accepts
    bytes and never answers (a stopped server, a hung pooler) raises nothing by itself."""


# What an unreachable, restarting, silent or overloaded database raises. Anything else is a
# bug: its first occurrence in an outage is logged with its traceback.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    DatabaseOverdue,
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
)
# ... and what a socket to any dependency raises (the database's own are wrapped above).
UNAVAILABLE: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, OSError)


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
    flap. Untracked failures (a request that could not be checked) are counted, and start an
    outage, but a reporter that may never try again cannot hold one open. Not thread-safe:
    report from one thread (or one gevent hub). Lines go to `logger` (this module's by default).
    """

    def __init__(
        self,
        name: str,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name, self.every, self._clock = name, every, clock
        self.log = logger or log
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
                self.log, "outage.start", logging.WARNING,
                None if isinstance(exc, UNAVAILABLE) else exc,
                what=self.name, error=type(exc).__name__, where=where, detail=first_line(exc),
            )  # fmt: skip
            return
        self.failures += 1
        if now - self._last_line >= self.every:
            self._last_line = now
            logs.event(self.log, "outage.ongoing", logging.WARNING, what=self.name,
                       failures=self.failures, seconds=round(now - self._down_since))  # fmt: skip

    def succeeded(self, where: str) -> None:
        """`where` got through; once no tracked reporter is failing, the outage is over."""
        self._failing.discard(where)
        if self._down_since is None or self._failing:
            return
        logs.event(self.log, "outage.end", logging.WARNING, what=self.name,
                   seconds=round(self._clock() - self._down_since, 1),
                   failures=self.failures)  # fmt: skip
        self._down_since = None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters (for a log field)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
