"""Per-connection rate limiting: a token bucket for messages, a window counter for floods."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second up to `burst`; each message takes one."""

    __slots__ = ("rate", "burst", "_clock", "_tokens", "_at")  # one per connection

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        """Spend a token; False (and nothing spent) when the bucket is empty."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class WindowCounter:
    """How many times something happened in the current `window` seconds."""

    __slots__ = ("window", "_clock", "_start", "count")

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._start = clock()
        self.count = 0

    def add(self) -> int:
        """Count one occurrence; how many there have been in the current window."""
        now = self._clock()
        if now - self._start > self.window:
            self._start, self.count = now, 0
        self.count += 1
        return self.count
