"""app.outage, as the daemon's loops and the webhook worker use it: few lines per outage, growing delays."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from app.logs import KeyValueFormatter
from app.outage import Backoff, Outage

DOWN = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def outage_lines(caplog) -> list[str]:
    """The key=value lines as the daemon writes them, without the timestamp and logger."""
    formatter = KeyValueFormatter()
    return [formatter.format(r).split(" ", 3)[3] for r in caplog.records if r.name == "app.outage"]


def test_backoff_doubles_to_its_cap_and_starts_over_after_reset():
    backoff = Backoff(first=0.025, cap=2.0)
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    backoff.reset()
    assert backoff.next_delay() == 0.025


def test_outage_logs_its_start_one_line_a_minute_and_its_end(caplog):
    caplog.set_level(logging.INFO, "app.outage")
    clock = Clock()
    outage = Outage("database", clock=clock)
    for _ in range(1000):  # 25 ms apart for 25 s, then 2 s apart for two more minutes
        outage.failed(DOWN, "poll_once")
        clock.now += 0.025
    for _ in range(60):
        outage.failed(DOWN, "poll_once")
        clock.now += 2.0
    outage.succeeded("poll_once")
    outage.succeeded("poll_once")
    lines = outage_lines(caplog)
    assert len(lines) == 4, lines
    assert lines[0].startswith("outage.start what=database error=OperationalError where=poll_once")
    assert [line.split(" ")[:2] for line in lines[1:3]] == [["outage.ongoing", "what=database"]] * 2
    assert lines[-1] == "outage.end what=database seconds=145.0 failures=1060"
    assert not any(record.exc_info for record in caplog.records), "no traceback for an outage"


def test_outage_stays_open_while_any_loop_still_fails(caplog):
    caplog.set_level(logging.INFO, "app.outage")
    outage = Outage("database", clock=Clock())
    outage.failed(DOWN, "poll_once")
    outage.failed(DOWN, "expire_unanswered")
    outage.succeeded("poll_once")
    assert outage.down
    outage.succeeded("expire_unanswered")
    assert not outage.down
    assert len(outage_lines(caplog)) == 2


def test_a_failed_hello_starts_an_outage_that_the_next_good_round_ends(caplog):
    caplog.set_level(logging.INFO, "app.outage")
    outage = Outage("database", clock=Clock())
    outage.failed(DOWN, "hello", track=False)
    outage.failed(DOWN, "hello", track=False)
    assert outage.down
    outage.succeeded("poll_once")
    assert not outage.down
    assert len(outage_lines(caplog)) == 2


def test_a_bug_is_logged_with_its_traceback_once(caplog):
    caplog.set_level(logging.INFO, "app.outage")
    outage = Outage("background task expire_unanswered", clock=Clock())
    for _ in range(50):
        try:
            raise KeyError("state")
        except KeyError as exc:
            outage.failed(exc, "expire_unanswered")
    assert [bool(r.exc_info) for r in caplog.records] == [True]
