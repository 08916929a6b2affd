"""The daemon's accept queue is sized for a reconnect storm (CHIMECAST_LISTEN_BACKLOG)."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def listen_backlog(port: int) -> int:
    """The accept-queue size of the socket listening on `port` (ss shows it as Send-Q)."""
    lines = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    [line] = [line for line in lines if line.strip()]
    return int(line.split()[2])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read Send-Q")
def test_daemon_listens_with_a_backlog_of_4096_by_default(stack):
    # gevent's default is 128: a 2,000-client storm saw 8,166 ListenDrops with it.
    port = urlsplit(stack.signaling_url).port
    somaxconn = int(open("/proc/sys/net/core/somaxconn").read())
    assert listen_backlog(port) == min(4096, somaxconn)
