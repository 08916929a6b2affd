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


class KeyedBuckets:
    """One TokenBucket per key (a connection id), created on first use.

    Idle buckets are full again after `burst / rate` seconds and then equal to a new one, so
    when there are more than `max_keys` the full ones are dropped: memory stays bounded by
    the connections that sent recently, with no hook on disconnect.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_keys, self._clock = rate, burst, max_keys, clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> bool:
        """Spend one of `key`'s tokens; False (nothing spent) when its bucket is empty."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._drop_full()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._clock)
        return bucket.take()

    def _drop_full(self) -> None:
        now = self._clock()
        full_after = self.burst / self.rate
        for key in [k for k, b in self._buckets.items() if now - b._at >= full_after]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
