"""Fixtures for production-shape tests: real coturn, nginx, PostgreSQL and Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from app.devstack import free_port, stop_process

IN_CI = os.environ.get("CI") == "true"


def require_binary(name: str) -> str:
    """Path of `name`; in CI a missing binary is a failure, elsewhere a clear skip."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package; .ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_for_log(log: Path, needle: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{needle!r} not in {log} after {timeout}s")


@pytest.fixture
def coturn(tmp_path):
    """A real coturn on 127.0.0.1 with `use-auth-secret`; yields (turn_url, secret, log_path)."""
    binary = require_binary("turnserver")
    port, secret = free_port(), "turn-test-secret-0123456789"
    log = tmp_path / "turnserver.log"
    argv = [
        binary, "-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint", "--simple-log",
        "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        "--min-port=49160", "--max-port=49400", "--use-auth-secret",
        f"--static-auth-secret={secret}", "--realm=chimecast.test",
        "--allow-loopback-peers",  # tests only: peers live on 127.0.0.1
        f"--pidfile={tmp_path / 'turnserver.pid'}", f"--log-file={log}",
        f"--userdb={tmp_path / 'turndb'}",
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_log(log, "Total General servers")
        yield f"turn:127.0.0.1:{port}?transport=udp", secret, log
    finally:
        stop_process(process)


POSTGRES_URL = os.environ.get(
    "CHIMECAST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CHIMECAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error}); start it as the README says"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL test database (CI has it at 127.0.0.1:5432), emptied for this test."""
    import psycopg

    from tests.conftest import reset_server_database

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    reset_server_database(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """The Redis server (CI has it at 127.0.0.1:6379)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return REDIS_URL
