"""`flask` commands print what the README shows, and log lines are key=value or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.devstack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def flask(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHIMECAST_")}
    environ.update(CHIMECAST_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", **env)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=50,
    )  # fmt: skip


def test_a_command_on_a_migrated_database_prints_only_its_output(tmp_path):
    assert flask(tmp_path, "db", "upgrade").returncode == 0
    listed = flask(tmp_path, "users", "list")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "No users.\n", "")


def test_json_log_format_writes_one_object_per_line(tmp_path):
    assert flask(tmp_path, "db", "upgrade").returncode == 0
    done = flask(
        tmp_path, "users", "list", CHIMECAST_LOG_LEVEL="debug", CHIMECAST_LOG_FORMAT="json"
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines, done.stderr
    assert all({"ts", "level", "logger", "event"} <= set(line) for line in lines), lines


def test_an_invalid_log_level_is_refused_by_name(tmp_path):
    done = flask(tmp_path, "users", "list", CHIMECAST_LOG_LEVEL="chatty")
    assert done.returncode != 0
    assert "CHIMECAST_LOG_LEVEL='chatty' is not valid" in done.stderr
