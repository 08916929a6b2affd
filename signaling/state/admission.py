"""Admission control for `hello`: how many wait to be served, how fast they are, whom to shed.

In a reconnect storm every `hello` needs a token check and a connection record (batched
database jobs, signaling.state.batches). When more hellos wait than the daemon serves in
reasonable time, each one admitted only lengthens everyone's wait: clients time out, retry
and queue again, and past a point nobody gets in (congestion collapse, RESULTS.md, goal 1).
So a hello is admitted while the queue ahead of it can be served within `target` seconds
at the measured service rate (and always while fewer than `floor` wait), and whatever its
length while the queue moves (its oldest hello has waited less than MOVING x `target`: a
burst on a daemon that keeps up is never shed, even before a rate is measured or when the
rate was measured on a trickle, which understates what batches serve); others are shed at
once, before any database work, with close 1013 and a retry hint: a slot of its own
in a virtual queue, so the retries come back spread at about the pace the daemon serves
instead of all together.

The service rate is measured, not configured: hellos finished per second of *busy* time
(time with at least one hello waiting), so idle time does not dilute it and it follows the
machine's real capacity (two cores shared with other work, a slow database). Each sample
covers `WINDOW` busy seconds (and `SAMPLE_MIN` hellos) or `floor` hellos served, whichever
comes first, and moves an average halfway. While nothing is served at all the rate stays as it was: the bound on one
hello's wait (`overdue`) answers those waiting, and the limit keeps newcomers out.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from signaling.settings import OVERDUE_FACTOR

WINDOW = 1.0  # busy seconds per rate sample ...
SAMPLE_MIN = 32  # ... with at least this many hellos served
FLOOR = 128  # hellos always admitted: one batch's worth while the rate is unmeasured
MIN_RETRY = 1.0  # s: the earliest a shed client is told to come back
MAX_RETRY = 60.0  # s: the latest (the web client's cap too)
PROBE = 2.0  # retry slots are handed out at this multiple of the measured service rate
JITTER = 0.1  # +- this fraction of a retry hint, so that equal hints do not synchronize
MOVING = 0.2  # a queue whose oldest hello has waited less than this x target is moving


class Admission:
    """The hellos this daemon holds between receiving them and answering them.

    `enter(conn)` admits a hello (returns None) or sheds it (returns the retry hint in
    seconds); every admitted hello must `leave(conn)` exactly once, whatever its outcome.
    Only the hub's greenlets call it (one OS thread): no locks.
    """

    def __init__(
        self,
        target: float,
        overdue: float | None = None,
        floor: int = FLOOR,
        moving: float = MOVING,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.target = target  # seconds of queue a newcomer may wait behind
        self.floor = floor
        self.moving = moving * target  # s: a queue whose oldest waited less is moving
        # Our own bound on serving one hello (the daemon passes Settings.overdue).
        self.overdue = overdue if overdue is not None else OVERDUE_FACTOR * target
        self._clock = clock
        self._rng = rng
        self._held: dict[Any, int] = {}  # admitted, not answered -> its admission number
        # Admission number -> when, while waiting; and the numbers in order (answered ones
        # are dropped lazily from the front). Numbers, not connections: nothing here may
        # keep a closed connection alive.
        self._since: dict[int, float] = {}
        self._order: deque[int] = deque()
        self._numbers = itertools.count()
        self.rate: float | None = None  # hellos served per busy second (None: not yet)
        self.shed_total = 0
        self._busy = 0.0  # busy seconds in the current sample
        self._done = 0  # hellos served in the current sample
        self._last = clock()
        self._next_slot = 0.0  # clock time of the last retry slot given out

    @property
    def waiting(self) -> int:
        return len(self._held)

    def __contains__(self, conn: object) -> bool:
        """Whether `conn`'s hello has been received and not yet answered."""
        return conn in self._held

    def limit(self) -> int:
        """How many hellos may wait at once now."""
        rate = self.rate
        if rate is None:
            return self.floor
        return max(self.floor, int(rate * self.target))

    def enter(self, conn: Any) -> float | None:
        """Admit `conn`'s hello (None), or shed it: the seconds after which to retry."""
        self._advance()
        self._sample()
        if len(self._held) < self.limit() or self._moving():
            number = next(self._numbers)
            self._held[conn] = number
            self._since[number] = self._clock()
            self._order.append(number)
            return None
        self.shed_total += 1
        return self.retry_hint()

    def leave(self, conn: Any, served: bool = True) -> None:
        """`conn`'s hello is answered (welcome, or a close). Only a `served` one counts
        toward the rate: one that ran out of time (overdue) or whose client left was not
        served, and counting it would raise the limit just when the daemon falls behind."""
        self._advance()
        number = self._held.pop(conn, None)
        if number is not None:
            del self._since[number]
            self._done += served

    def _moving(self) -> bool:
        """Whether the oldest hello waiting has waited less than MOVING x target."""
        order, since = self._order, self._since
        while order and order[0] not in since:
            order.popleft()  # answered since
        return not order or self._clock() - since[order[0]] < self.moving

    def retry_hint(self) -> float:
        """When to come back, in seconds: each shed client gets its own slot in a virtual
        queue behind those waiting, slots `1 / (PROBE x rate)` apart, so the retries come
        back spread at about the pace the daemon serves (x PROBE: a short queue's rate
        understates what deeper batches serve, and retries beyond the limit are shed again
        cheaply). Jittered by +-JITTER; at least MIN_RETRY, at most MAX_RETRY (slots past it:
        uniform over its second half). Before the
        rate is known (it is within the first `floor` hellos served), uniform over the busy
        time so far (at least MIN_RETRY): the best guess of how long the first batch takes."""
        rng = self._rng()
        rate = self.rate
        if rate is None:
            spread = min(max(self._busy, MIN_RETRY), MAX_RETRY - MIN_RETRY)
            return round(MIN_RETRY + rng * spread, 1)
        now = self._clock()
        rate = max(rate, 1e-3)
        start = now + max(MIN_RETRY, len(self._held) / rate)
        slot = max(self._next_slot, start) + 1 / (PROBE * rate)
        if slot - now > MAX_RETRY:
            # More demand than MAX_RETRY covers: spread the rest over its second half. Put
            # on the cap itself they came back together, and refusing a wave of them cost
            # the starved daemon more than it had (a storm of 2,000 at 5 % CPU: 46 in).
            return round(MAX_RETRY * (1 + rng) / 2, 1)
        self._next_slot = slot
        delay = (slot - now) * (1 - JITTER + 2 * JITTER * rng)
        return round(min(max(delay, MIN_RETRY), MAX_RETRY), 1)

    def _advance(self) -> None:
        now = self._clock()
        elapsed, self._last = max(now - self._last, 0.0), now
        if self._held:
            self._busy += elapsed

    def _sample(self) -> None:
        """Take a rate sample once the current one covers WINDOW busy seconds, or `floor`
        hellos served (so the first storm is measured after its first batch or so), and
        at least SAMPLE_MIN served: one batch job may take longer than WINDOW, and its
        hellos are answered together at its end, so a sample cut among them would count a
        few of them over the whole job's time. Called only when a hello arrives."""
        done, busy = self._done, self._busy
        if busy > 0 and (done >= self.floor or (busy >= WINDOW and done >= SAMPLE_MIN)):
            sample = done / busy
            self.rate = sample if self.rate is None else (self.rate + sample) / 2
            self._busy, self._done = 0.0, 0


def busy_reason(retry_after: float) -> str:
    """The close reason of a 1013 (PROTOCOL.md): clients read the number after `retry after`."""
    return f"server busy, retry after {retry_after:.1f} s"


def client_hung_up(conn: Any) -> bool:
    """Whether `conn` is closing or its client has gone (end of input, reset, or a close
    frame next in the socket), looked at without reading or waiting."""
    if getattr(conn, "closing", False):
        return True
    head = _peek(conn)
    return head == b"" or (head is not None and head[0] & 0x0F == 0x8)


def input_waiting(conn: Any) -> bool:
    """Whether the client has sent bytes our reader has not read yet (it is the reader that
    is late, not the client)."""
    head = _peek(conn)
    return head is not None and head != b""


def _peek(conn: Any) -> bytes | None:
    """The next byte in `conn`'s socket: b"" at end of input or on an error, None if none
    is there (or the connection has no OS socket, as in unit tests)."""
    # gevent's socket would wait for input; the OS socket under it is non-blocking.
    raw = getattr(getattr(getattr(conn, "ws", None), "sock", None), "_sock", None)
    if raw is None:
        return None
    try:
        return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""
