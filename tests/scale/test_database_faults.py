"""The web app on PostgreSQL answers 503 while the database is gone and recovers by itself."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from app.devstack import Stack
from signaling.client.api import ApiClient
from tests.conftest import PASSWORD
from tests.scale.tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_postgres_connection_drop_gives_clean_503_then_recovers_without_restart(
    postgres_url, tmp_path
):
    target = urlsplit(postgres_url)
    proxy = TcpProxy((target.hostname, target.port or 5432))
    url = postgres_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
    env = {"CHIMECAST_ARGON2_TIME_COST": "1", "CHIMECAST_ARGON2_MEMORY_KIB": "1024"}
    with Stack(url, signaling_ports=[], extra_env=env, log_dir=tmp_path / "logs") as stack:
        web = stack.processes["web"]
        api = ApiClient(stack.web_url, timeout=15)
        api.register_and_login("alice", PASSWORD)
        assert api.request("GET", "/me")[0] == 200

        proxy.cut()
        started = time.monotonic()
        status, body = api.request("GET", "/me")
        assert status == 503 and body["error"] == "database_unavailable"
        assert time.monotonic() - started < 10, "a dead database must fail fast, not hang"
        assert api.request("GET", "/readyz")[0] == 503
        assert api.request("GET", "/healthz")[0] == 200, "the process itself is fine"

        proxy.restore()
        deadline = time.monotonic() + 10
        while api.request("GET", "/me")[0] != 200:
            assert time.monotonic() < deadline, "the app did not recover"
            time.sleep(0.2)
        assert web.poll() is None, "recovery must not need a restart"
        assert api.request("GET", "/readyz")[0] == 200
    proxy.close()
