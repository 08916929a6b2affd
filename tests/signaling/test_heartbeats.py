"""The heartbeat sweeper, driven with explicit times: each connection is checked when it
asked to be (never before, at most two ticks after), not on every tick."""

from __future__ import annotations

import time

from signaling.transport.heartbeats import Heartbeats


class Watched:
    """Records when it was checked; asks to be checked again `every` seconds later."""

    def __init__(self, every: float | None = 10.0, fail: bool = False) -> None:
        self.every = every
        self.fail = fail
        self.checked: list[float] = []

    def check(self, now: float) -> float | None:
        self.checked.append(now)
        if self.fail:
            raise RuntimeError("broken connection")
        return None if self.every is None else now + self.every


def sweep_until(beats: Heartbeats, start: float, end: float) -> None:
    now = start
    while now <= end:
        beats.sweep(now)
        now += beats.tick


def test_a_connection_is_checked_when_it_asked_not_on_every_tick():
    beats = Heartbeats(hello_timeout=5.0, heartbeat_interval=20.0)
    conn = Watched(every=10.0)
    start = time.monotonic()
    beats.add(conn)
    sweep_until(beats, start, start + 35)
    assert len(conn.checked) == 4  # first tick, then about every 10 s: not 56 ticks' worth
    gaps = [b - a for a, b in zip(conn.checked, conn.checked[1:], strict=False)]
    assert all(10.0 < gap <= 10.0 + 2 * beats.tick for gap in gaps)
    beats.discard(conn)


def test_a_discarded_connection_is_never_checked_again():
    beats = Heartbeats(hello_timeout=5.0, heartbeat_interval=20.0)
    conn = Watched(every=1.0)
    start = time.monotonic()
    beats.add(conn)
    sweep_until(beats, start, start + 3)
    seen = len(conn.checked)
    beats.discard(conn)
    sweep_until(beats, start + 3, start + 10)
    assert len(conn.checked) == seen and len(beats) == 0


def test_a_connection_that_needs_no_more_checks_leaves_the_schedule():
    beats = Heartbeats(hello_timeout=5.0, heartbeat_interval=20.0)
    conn = Watched(every=None)
    start = time.monotonic()
    beats.add(conn)
    sweep_until(beats, start, start + 10)
    assert len(conn.checked) == 1 and len(beats) == 0


def test_a_failing_check_is_retried_and_does_not_stop_the_others():
    beats = Heartbeats(hello_timeout=5.0, heartbeat_interval=20.0)
    broken, fine = Watched(fail=True), Watched(every=1.0)
    start = time.monotonic()
    beats.add(broken)
    beats.add(fine)
    sweep_until(beats, start, start + 3)
    assert len(broken.checked) >= 3 and len(fine.checked) >= 2
    assert len(beats) == 2
