"""signaling.state.runners: a caller's bounded wait, and what an abandoned job may still do."""

from __future__ import annotations

import threading
import time

import gevent
import pytest
from gevent.threadpool import ThreadPool
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.outage import DatabaseOverdue
from signaling.state.runners import bounded


def until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.01)
    return True


def quietly(job):
    """As the store's jobs are: an exception is returned, never raised in the pool's thread."""

    def run():
        try:
            return job()
        except Exception as exc:  # noqa: BLE001 - the caller (or the test) looks at it
            return exc

    return run


def test_an_answer_in_time_is_returned():
    assert bounded(ThreadPool(1), 1.0)(lambda: 42) == 42


def test_past_the_deadline_callers_hear_overdue_and_a_job_still_waiting_never_runs():
    run = bounded(ThreadPool(1), 0.2)
    release, ran = threading.Event(), []
    stuck = gevent.spawn(run, lambda: release.wait(5) and ran.append("stuck"))
    waiting = gevent.spawn(run, lambda: ran.append("waiting"))  # no free thread for it
    started = time.monotonic()
    gevent.joinall([stuck, waiting], timeout=3)
    assert time.monotonic() - started < 1.0
    assert isinstance(stuck.exception, DatabaseOverdue), stuck.exception
    assert isinstance(waiting.exception, DatabaseOverdue), waiting.exception
    release.set()
    assert until(lambda: ran == ["stuck"])  # the running one finishes, unseen
    gevent.sleep(0.2)
    assert ran == ["stuck"], "a job abandoned before it started must never run"
    assert run(lambda: "free again") == "free again"


def test_a_job_abandoned_while_running_cannot_commit(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'runners.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE marks (n INTEGER)"))
    release, outcome = threading.Event(), []

    def insert(wait: bool):
        def job():
            with Session(engine) as session:
                session.execute(text("INSERT INTO marks VALUES (1)"))
                if wait:
                    release.wait(5)
                session.commit()
                return "committed"

        guarded = quietly(job)
        return lambda: outcome.append(guarded())

    run = bounded(ThreadPool(1), 0.2)
    with pytest.raises(DatabaseOverdue):
        run(insert(wait=True))
    release.set()
    assert until(lambda: len(outcome) == 1)
    assert isinstance(outcome[0], DatabaseOverdue), outcome  # refused at its commit

    run(insert(wait=False))  # in time: commits as usual
    assert outcome[1] == "committed"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM marks")).scalar_one() == 1
    engine.dispose()


def test_a_timeout_of_the_callers_own_passes_through_as_itself():
    run = bounded(ThreadPool(1), 5.0)
    own = gevent.Timeout(0.1)
    with pytest.raises(gevent.Timeout) as caught:
        with own:
            run(lambda: time.sleep(0.5))
    assert caught.value is own
