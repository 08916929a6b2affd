"""`honcho start` with the shipped Procfile runs web, daemon and worker on one host and keeps
them up; the page it serves finds the daemon; Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.devstack import wait_http_ok
from tests.conftest import database_url_for
from tests.ops.helpers import free_base_port, requests_total

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UP_FOR = 20  # seconds: the old Procfile stopped everything ~7 s in, when `release` exited


def clean_env(database_url: str) -> dict[str, str]:
    """This shell's environment without any ChimeCast setting or PORT: "no extra settings".

    The one exception is the database, so the test does not use the checkout's
    instance/chimecast.db (or so it runs on PostgreSQL when the suite does).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIMECAST_") and k != "PORT"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CHIMECAST_DATABASE_URL"] = database_url
    return env


def test_honcho_start_keeps_web_signaling_and_worker_up_and_the_page_finds_the_daemon(tmp_path):
    honcho = shutil.which("honcho", path=str(BIN))
    assert honcho, "honcho is in the dev extra: pip install -e '.[dev]'"
    base = free_base_port()
    web_url, daemon = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 100}"
    log = tmp_path / "honcho.log"
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [honcho, "-e", str(empty_env_file), "start", "-p", str(base)],
            cwd=ROOT,
            env=clean_env(database_url_for(tmp_path)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches
        )
    try:
        wait_http_ok(f"{web_url}/readyz", 60, process)
        wait_http_ok(f"{daemon}/healthz", 60, process)
        time.sleep(max(0.0, started + UP_FOR - time.monotonic()))
        assert process.poll() is None, log.read_text()[-3000:]
        wait_http_ok(f"{web_url}/readyz", 5, process)
        wait_http_ok(f"{daemon}/healthz", 5, process)
        assert "worker.1" in log.read_text() and process.poll() is None

        done = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("one_call.py")), web_url],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout)["signaling_url"] == f"ws://127.0.0.1:{base + 100}/ws"

        # The shipped gunicorn config is in use: one /metrics for all workers, never going back.
        counts = []
        for _ in range(6):
            wait_http_ok(f"{web_url}/healthz", 5)
            counts.append(requests_total(web_url))
        assert counts == sorted(counts) and counts[-1] >= 6, counts
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        code = process.wait(30)
    assert code is not None
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of the group is left
    for port in (base, base + 100):
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
            pass
