"""Run `chimecast-bench` as a user would: a subprocess, JSON lines on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str, timeout: float = 60) -> tuple[int, list[dict]]:
    """(exit status, the JSON results) of `python -m signaling.bench <args> --json`."""
    completed = subprocess.run(
        [sys.executable, "-m", "signaling.bench", *args, "--json", "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode not in (0, 1) or not lines:
        pytest.fail(f"chimecast-bench exited {completed.returncode}\n{completed.stderr[-3000:]}")
    return completed.returncode, [json.loads(line) for line in lines]


def result_for(results: list[dict], target: str) -> dict:
    [found] = [r for r in results if r["target"] == target]
    return found


@pytest.fixture(scope="session")
def peerjs_installed() -> None:
    """PeerJS server installed in the bench cache (npm on first use). Outside CI a machine
    without Node.js/npm or without the npm registry skips; in CI (CI=true) it must work."""
    from signaling.bench import peerjs

    in_ci = os.environ.get("CI") == "true"
    reason = peerjs.unavailable()
    if reason and not in_ci:
        pytest.skip(f"PeerJS reference needs Node.js and npm: {reason}")
    try:
        peerjs.ensure_installed()
    except RuntimeError as exc:
        if in_ci:
            raise
        pytest.skip(f"could not install peer@{peerjs.VERSION} from npm: {str(exc)[:200]}")
