"""`chimecast-probe`: existing probe users, no registration, marked calls, per-daemon checks,
and an exit status per failed step."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from app.config import normalize_database_url
from app.devstack import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]
PASSWORD = "probe passphrase 42"


@pytest.fixture
def stack_env():
    # Registration closed and webhooks on: the probe must need neither and send none.
    return {
        "CHIMECAST_REGISTRATION": "closed",
        "CHIMECAST_WEBHOOK_URLS": "http://127.0.0.1:9/hooks",
        "CHIMECAST_WEBHOOK_SECRET": "whsec-probe-test",
    }


@pytest.fixture
def probe_users(stack):
    for name in ("probe-caller", "probe-callee"):
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "users", "create", "--probe",
             "--password-stdin", name],
            input=PASSWORD + "\n", cwd=ROOT, env=stack._env, check=True, capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip


def run_probe(stack, *extra: str) -> subprocess.CompletedProcess:
    argv = [
        sys.executable, "-m", "signaling.client.probe", "--web-url", stack.web_url,
        "--signaling-url", stack.signaling_url, "--password", PASSWORD,
        "--loopback-only", "--json", "--timeout", "10", *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def query(stack, sql: str) -> list[tuple]:
    engine = create_engine(normalize_database_url(stack.database_url))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_probe_logs_in_as_probe_users_and_its_call_is_marked_and_sends_no_webhook(
    stack, probe_users
):
    done = run_probe(stack)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["failed_step"] is None
    for key in ("ring_seconds", "setup_seconds", "connect_seconds", "first_frame_seconds"):
        assert 0 < result[key] < 10, key
    assert query(stack, "SELECT id, probe FROM calls") == [(result["call_id"], True)]
    assert query(stack, "SELECT count(*) FROM webhook_deliveries") == [(0,)]
    stats = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "calls", "stats", "--json"],
        cwd=ROOT, env=stack._env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert '"total": 0' in stats.stdout or '"calls": 0' in stats.stdout, stats.stdout


def test_probe_without_probe_users_fails_at_login_with_exit_3_and_a_hint(stack):
    done = run_probe(stack)
    assert done.returncode == 3
    result = json.loads(done.stdout)
    assert result["failed_step"] == "login"
    assert "flask users create --probe" in result["error"]


def test_each_daemon_checks_every_daemon_and_names_the_dead_one(stack, probe_users):
    dead = f"ws://127.0.0.1:{free_port()}/ws"
    done = run_probe(stack, "--each-daemon", stack.signaling_url, dead)
    assert done.returncode == 4, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["ok"] and first["signaling_url"] == stack.signaling_url
    assert second["failed_step"] == "connect" and second["signaling_url"] == dead


def test_probe_fails_with_exit_4_at_connect_when_signaling_is_down(stack, probe_users):
    daemon = stack.processes["signaling"]
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(5)
    done = run_probe(stack)
    assert done.returncode == 4
    result = json.loads(done.stdout)
    assert result["ok"] is False and result["failed_step"] == "connect"


def test_a_missing_ca_file_is_a_usage_error(stack):
    done = run_probe(stack, "--ca-file", "/nonexistent/ca.pem")
    assert done.returncode == 2
    assert "--ca-file /nonexistent/ca.pem" in done.stderr
