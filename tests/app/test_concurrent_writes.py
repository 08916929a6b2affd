"""Several OS processes writing to one SQLite file at once: no "database is locked"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from app.extensions import db
from app.models import Call, Event, User
from tests.app.helpers import rows
from tests.app.writer_process import MIN_CALLS

PROCESSES = 4
SECONDS = 3.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
def test_processes_writing_concurrently_see_no_lock_errors_and_lose_nothing(app, tmp_path):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite-specific")
    go_file = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.app.writer_process",
                url,
                f"p{n}",
                str(go_file),
                str(SECONDS),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    reports = []
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()[-3000:]
        go_file.touch()  # all processes start writing at the same moment
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err[-3000:]
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    db_errors = [e for r in reports for e in r["db_errors"]]
    failures = [f for r in reports for f in r["failures"]]
    assert not [e for e in db_errors if "locked" in e], db_errors[:5]
    assert db_errors == [] and failures == [], (db_errors[:5], failures[:5])

    users = {name for r in reports for name in r["users"]}
    calls = {call_id for r in reports for call_id in r["calls"]}
    per_process = [len(r["calls"]) for r in reports]
    print(f"calls completed per process: {per_process}")
    assert all(n >= MIN_CALLS for n in per_process), per_process  # nobody starved
    assert {u["username"] for u in rows(app, User)} == users
    stored = {c["id"]: c for c in rows(app, Call)}
    assert set(stored) == calls
    assert {(c["state"], c["end_reason"]) for c in stored.values()} == {("ended", "hangup")}
    kinds = [e["kind"] for e in rows(app, Event) if e["call_id"] is not None]
    assert len(kinds) == 3 * len(calls)  # ringing, accepted, ended for each call


@pytest.fixture
def no_busy_wait(app):
    """The app's SQLite connections with SQLite's busy timeout at 0: a write that finds the
    write lock taken fails at once, unless something made it wait for the lock first."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite-specific")
    with app.app_context():
        engine = db.engine
    engine.dispose()

    def zero_timeout(dbapi_connection, _record, _proxy):
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    event.listen(engine, "checkout", zero_timeout)
    yield
    event.remove(engine, "checkout", zero_timeout)


@pytest.mark.timeout(30)
def test_threads_of_one_process_queue_for_sqlites_write_lock_instead_of_failing(app, no_busy_wait):
    """With SQLite's busy timeout at 0, a second thread's write fails at once ("database is
    locked") unless the process lock makes it wait for the first thread's commit."""
    first_wrote, outcome = threading.Event(), {}

    def first() -> None:
        with app.app_context():
            db.session.add(User(username="first", password_hash="x"))
            db.session.flush()  # holds SQLite's write lock from here to the commit
            first_wrote.set()
            time.sleep(0.3)
            db.session.commit()
            outcome["first_committed"] = time.monotonic()

    def second() -> None:
        first_wrote.wait(5)
        with app.app_context():
            try:
                db.session.add(User(username="second", password_hash="x"))
                db.session.commit()
                outcome["second_committed"] = time.monotonic()
            except Exception as exc:  # the assertion below reports it
                outcome["error"] = repr(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert "error" not in outcome, outcome["error"]
    assert outcome["second_committed"] >= outcome["first_committed"]
    assert {u["username"] for u in rows(app, User)} >= {"first", "second"}


HOLDER = """
import sys, time
from app import create_app
from app.extensions import db
from app.models import User
app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": sys.argv[1]})
with app.app_context():
    db.session.add(User(username="holder", password_hash="x"))
    db.session.flush()  # SQLite's write lock, and the writer file lock, from here...
    print("holding", flush=True)
    time.sleep(0.5)
    db.session.commit()  # ...to here
    print("committed", time.monotonic(), flush=True)
"""


@pytest.mark.timeout(60)
def test_processes_queue_for_sqlites_write_lock_in_the_kernel_not_in_sqlite(app, no_busy_wait):
    """A second process's write waits for the first one's commit even with SQLite's busy
    timeout at 0 (where SQLite itself would fail at once with "database is locked")."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with app.app_context():
            db.session.add(User(username="waiter", password_hash="x"))
            db.session.commit()
            committed = time.monotonic()
        out, _ = holder.communicate(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert holder.returncode == 0
    assert committed >= float(out.split()[-1])  # it waited for the holder's commit
    assert {u["username"] for u in rows(app, User)} >= {"holder", "waiter"}
