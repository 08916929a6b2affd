"""Several OS processes writing to one SQLite file at once: no "database is locked"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.models import Call, Event, User
from tests.app.helpers import rows

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
    assert all(n >= 5 for n in per_process), per_process
    assert {u["username"] for u in rows(app, User)} == users
    stored = {c["id"]: c for c in rows(app, Call)}
    assert set(stored) == calls
    assert {(c["state"], c["end_reason"]) for c in stored.values()} == {("ended", "hangup")}
    kinds = [e["kind"] for e in rows(app, Event) if e["call_id"] is not None]
    assert len(kinds) == 3 * len(calls)  # ringing, accepted, ended for each call
