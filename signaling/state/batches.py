"""Requests that many greenlets make at about the same time, answered by one job for all.

A reconnect storm brings thousands of `hello`s, each of which needs its token checked and a
connection row written: one database job (a threadpool hop, a transaction, a commit) per
client was most of the daemon's CPU per arrival. A `Batch` collects the requests made while
its previous job runs (or, when idle, during the current loop turn) and answers them all
from one call of `run_many`, so the cost of a job is shared by everyone who waited for it.
At most one job of a batch runs at a time: under load the batches grow instead of the queue
in front of the threadpool. Requests are served in the order they were made; one whose
requester stopped waiting (a timeout) or no longer wants it (`wanted()` is false: its
client has gone) is dropped when its turn comes, without database work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import gevent
from gevent.event import AsyncResult

T = TypeVar("T")
R = TypeVar("R")

# Answers for one batch: one per request, in order; an exception is raised in its requester.
RunMany = Callable[[list[T]], Sequence["R | BaseException"]]
Wanted = Callable[[], bool]


class Abandoned(Exception):
    """The request was dropped unserved: its requester no longer wanted the answer."""


class Batch(Generic[T, R]):
    """`batch(item)` blocks the calling greenlet until `run_many([..., item, ...])` answered.

    `run_many` gets at most `limit` items and returns one answer per item, in order; an
    answer that is an exception is raised in that item's caller. If `run_many` itself
    raises, every caller of that batch gets the exception.
    """

    __slots__ = ("_run_many", "_limit", "_pending", "_worker")

    def __init__(self, run_many: RunMany[T, R], limit: int = 256) -> None:
        self._run_many = run_many
        self._limit = limit
        self._pending: deque[tuple[T, AsyncResult, Wanted | None]] = deque()
        self._worker: gevent.Greenlet | None = None

    def __call__(self, item: T, wanted: Wanted | None = None) -> R:
        """The answer for `item`. If `wanted` is given and returns False when the item's
        turn comes, the item is dropped unserved and this raises `Abandoned`."""
        waiter = AsyncResult()
        self._pending.append((item, waiter, wanted))
        if self._worker is None:
            # Runs once the greenlets already woken in this loop turn have had their go,
            # so the requests they make join this batch.
            self._worker = gevent.spawn(self._work)
        try:
            return waiter.get()
        except BaseException:
            if not waiter.ready():  # interrupted (a timeout): nobody waits for it any more
                waiter.set_exception(Abandoned())
            raise

    def _work(self) -> None:
        try:
            while self._pending:
                taken = []
                while self._pending and len(taken) < self._limit:
                    item, waiter, wanted = self._pending.popleft()
                    if waiter.ready():
                        continue  # its requester stopped waiting
                    if wanted is not None and not wanted():
                        waiter.set_exception(Abandoned())
                        continue
                    taken.append((item, waiter))
                if taken:
                    self._answer(taken)
        finally:
            self._worker = None

    def _answer(self, taken: list[tuple[T, AsyncResult]]) -> None:
        try:
            answers = self._run_many([item for item, _waiter in taken])
        except BaseException as exc:  # noqa: B036 - every waiter must hear of it
            for _item, waiter in taken:
                waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_item, waiter), answer in zip(taken, answers, strict=True):
            if isinstance(answer, BaseException):
                waiter.set_exception(answer)
            else:
                waiter.set(answer)
