"""Fixtures for production-shape tests: real coturn, nginx, PostgreSQL and Redis."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from app.devstack import Stack, free_port, stop_process

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


# Cheap password hashing, and daemons that notice a silent peer within 2 s.
FAST_NODES = {
    "CHIMECAST_ARGON2_TIME_COST": "1",
    "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
    "CHIMECAST_NODE_REFRESH_INTERVAL": "0.5",
    "CHIMECAST_NODE_STALE_AFTER": "2",
}


def two_daemons_on(tmp_path: Path, redis_url: str) -> Stack:
    """A web app and two daemons sharing a SQLite file and the Redis at `redis_url`, with
    FAST_NODES (enter it to start them)."""
    return Stack(
        f"sqlite:///{tmp_path / 'chimecast.db'}",
        signaling_ports=[0, 0],
        extra_env={**FAST_NODES, "CHIMECAST_REDIS_URL": redis_url},
        log_dir=tmp_path / "logs",
    )


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


class RedisServer:
    """A private redis-server on a free port, so a test may restart it."""

    def __init__(self, directory: Path) -> None:
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


NGINX_MAIN = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/chimecast.conf;
}}
"""


def render_nginx_conf(web_port: int, daemon_ports: list[int], listen_port: int) -> str:
    """deploy/nginx.conf with this test's ports and upstreams (their parameters as shipped),
    its TLS server on plain HTTP at `listen_port`: the file we ship is the file we test, but
    for TLS, which tests/scale/test_nginx.py covers."""
    text = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text()
    text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{web_port};")
    shipped = re.search(
        r"^    server 127\.0\.0\.1:8001( [^;\n]*)?;\n    server 127\.0\.0\.1:8002\1;\n", text, re.M
    )
    assert shipped, "deploy/nginx.conf no longer lists daemons on 8001 and 8002"
    params = shipped.group(1) or ""
    servers = "".join(f"    server 127.0.0.1:{port}{params};\n" for port in daemon_ports)
    text = text[: shipped.start()] + servers + text[shipped.end() :]
    tls = re.search(r"listen 443 ssl( [^;\n]*)?;", text)
    assert "listen 80;" in text and tls, "deploy/nginx.conf no longer listens on 80 and 443"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")  # the redirect
    text = re.sub(r"^\s*ssl_certificate(_key)? .*;\n", "", text, flags=re.M)
    # the shipped listen parameters (the storm-sized backlog) stay: they are under test too
    return text.replace(tls.group(0), f"listen 127.0.0.1:{listen_port}{tls.group(1) or ''};")


@pytest.fixture
def nginx_for(tmp_path):
    """Factory: nginx_for(stack) -> base URL of a real nginx running deploy/nginx.conf."""
    binary = require_binary("nginx")
    running: list[subprocess.Popen] = []

    def start(stack) -> str:
        directory = tmp_path / "nginx"
        directory.mkdir(exist_ok=True)
        port = free_port()
        (directory / "chimecast.conf").write_text(
            render_nginx_conf(stack.web_port, stack.signaling_ports, port)
        )
        (directory / "nginx.conf").write_text(NGINX_MAIN.format(dir=directory))
        argv = [binary, "-c", str(directory / "nginx.conf"), "-p", str(directory)]
        check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        running.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        from app.devstack import wait_http_ok

        wait_http_ok(f"http://127.0.0.1:{port}/healthz", 10, running[-1])
        return f"http://127.0.0.1:{port}"

    yield start
    for process in running:
        stop_process(process)
