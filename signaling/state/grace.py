"""Reconnect grace: one set of timers for every device that dropped out of a call or a
meeting, keyed by what it dropped out of; plus the timer interfaces (gevent in the daemon,
a manual fake in tests).

A device that drops starts a timer under its key; coming back in time cancels it; when it
fires, the owner's `over` callback decides (it checks again whether the device is back
anywhere, then ends the call or leaves the meeting).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any, Protocol

import gevent

from app import logs

log = logging.getLogger(__name__)


class Timer(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """Delayed calls; gevent in the daemon, a manual fake in tests."""

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer: ...


class GeventTimers:
    """`call_later` on gevent greenlets; an exception in `fn` is logged, never raised."""

    class _Handle:
        def __init__(self, greenlet: gevent.Greenlet) -> None:
            self._greenlet = greenlet

        def cancel(self) -> None:
            self._greenlet.kill(block=False)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        def guarded() -> None:
            try:
                fn(*args)
            except Exception:
                name = getattr(fn, "__name__", type(fn).__name__)
                logs.event(log, "timer.failed", logging.ERROR, True, timer=name)

        return self._Handle(gevent.spawn_later(delay, guarded))


class Grace:
    """Grace timers by key: ("call", call id, user id) or ("meeting", meeting id, user id)."""

    def __init__(self, timers: Timers) -> None:
        self._timers = timers
        self._pending: dict[Hashable, Timer] = {}

    def pending(self, key: Hashable) -> bool:
        return key in self._pending

    def start(self, key: Hashable, seconds: float, over: Callable[..., Any], *args: Any) -> bool:
        """Run `over(*args)` in `seconds` unless cancelled; False (nothing new) if `key`
        already waits."""
        if key in self._pending:
            return False
        self._pending[key] = self._timers.call_later(seconds, self._over, key, over, *args)
        return True

    def cancel(self, key: Hashable) -> bool:
        """Stop `key`'s timer; True if one was waiting."""
        timer = self._pending.pop(key, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    def cancel_where(self, matches: Callable[[Hashable], bool]) -> None:
        """Stop every timer whose key `matches` (an ended call's, say)."""
        for key in [key for key in self._pending if matches(key)]:
            self.cancel(key)

    def _over(self, key: Hashable, over: Callable[..., Any], *args: Any) -> None:
        self._pending.pop(key, None)
        over(*args)
