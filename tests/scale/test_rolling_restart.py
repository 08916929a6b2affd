"""A rolling restart of the daemons behind the shipped nginx.conf never leaves /ws with 502.

Restart one daemon (nginx sees it refuse connections meanwhile), then stop the other one
right after: new sockets must reach the daemon that just came back. With the former
`max_fails=1 fail_timeout=5s`, nginx kept the restarted daemon on probation for 5 s and
answered 502 ("no live upstreams") to every handshake in that window.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time

import pytest

from app.devstack import Stack, wait_http_ok
from tests.conftest import database_url_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def handshake_status(base_url: str) -> int:
    """HTTP status nginx answers to a WebSocket upgrade on /ws (101 when a daemon took it)."""
    host, port = base_url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_stopping_the_other_daemon_right_after_a_restart_gives_no_502(tmp_path, nginx_for):
    env = {"CHIMECAST_ENV": "development"}
    with Stack(
        database_url_for(tmp_path), signaling_ports=[0, 0], extra_env=env, log_dir=tmp_path
    ) as stack:
        base = nginx_for(stack)
        assert handshake_status(base) == 101
        first = stack.processes["signaling"]
        first.send_signal(signal.SIGTERM)
        first.wait(30)
        # While it is down, nginx tries it, is refused, and (formerly) marks it failed.
        assert [handshake_status(base) for _ in range(4)] == [101] * 4
        restarted = time.monotonic()
        stack.start_signaling(0)
        second = stack.processes["signaling1"]
        second.send_signal(signal.SIGKILL)
        second.wait(10)
        statuses = [handshake_status(base) for _ in range(4)]
        elapsed = time.monotonic() - restarted
        assert statuses == [101] * 4, f"{statuses} {elapsed:.1f} s after the restart"
        wait_http_ok(f"{stack.web_url}/healthz", 5)
