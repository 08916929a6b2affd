"""`chimecast-probe` reports a healthy system with exit 0 and a broken one with exit 1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def run_probe(stack, *extra: str) -> subprocess.CompletedProcess:
    argv = [
        sys.executable, "-m", "signaling.probe", "--web-url", stack.web_url,
        "--signaling-url", stack.signaling_url, "--password", "probe passphrase 42",
        "--loopback-only", "--json", "--timeout", "10", *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=90)


def test_probe_succeeds_and_measures_a_real_call(stack):
    done = run_probe(stack)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["failed_step"] is None
    for key in ("ring_seconds", "setup_seconds", "connect_seconds", "first_frame_seconds"):
        assert 0 < result[key] < 10, key
    assert all(
        counts["video"] >= 15 and counts["audio"] >= 15 for counts in result["frames"].values()
    )


def test_probe_fails_with_exit_1_and_names_the_step_when_signaling_is_down(stack):
    daemon = stack.processes["signaling"]
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(5)
    done = run_probe(stack)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["ok"] is False and result["failed_step"] == "connect"
