"""A real running system (gunicorn + the daemon, as subprocesses) shared by a test module.

Starting the stack takes ~8 s, so the real-socket tests of one module share one, with short
timeouts; every test makes its own users. A test that stops the daemon leaves it to
`live.ensure_daemon()` (run before each test) to start it again.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from app.devstack import Stack
from tests.conftest import PASSWORD, database_url_for
from tests.signaling.wsclient import RawClient

LIVE_ENV = {
    "CHIMECAST_ENV": "development",
    "CHIMECAST_ARGON2_TIME_COST": "1",
    "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
    "CHIMECAST_CALL_START_LIMIT": "1000",
    "CHIMECAST_LOGIN_MAX_FAILURES_PER_IP": "1000",
    "CHIMECAST_RING_TIMEOUT": "4",
    "CHIMECAST_RECONNECT_GRACE": "3",
    "CHIMECAST_HELLO_TIMEOUT": "1",
    "CHIMECAST_HEARTBEAT_INTERVAL": "1",
    "CHIMECAST_HEARTBEAT_TIMEOUT": "3",
    "CHIMECAST_MAX_CONNECTIONS_PER_USER": "3",
    "CHIMECAST_MESSAGE_RATE": "20",
    "CHIMECAST_MESSAGE_BURST": "40",
    # gevent reports on stderr (the daemon's log) whenever its hub is blocked > 100 ms.
    "GEVENT_MONITOR_THREAD_ENABLE": "true",
    "GEVENT_MAX_BLOCKING_TIME": "0.1",
}
_names = itertools.count(1)


@dataclass
class Person:
    name: str
    token: str
    web_url: str
    clients: list[RawClient] = field(default_factory=list)

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.post(self.web_url + path, json=body or {}, headers=headers, timeout=10)

    def start_call(self, callee: Person) -> int:
        response = self.post("/call/start", {"callee": callee.name})
        assert response.status_code in (200, 201), response.text
        return response.json()["call"]["id"]

    def get_call(self, call_id: int) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = requests.get(f"{self.web_url}/calls/{call_id}", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@dataclass
class Live:
    stack: Stack
    log_dir: Path

    @property
    def url(self) -> str:
        return self.stack.signaling_url

    @property
    def daemon(self):
        return self.stack.processes["signaling"]

    @property
    def daemon_log(self) -> Path:
        return self.log_dir / "signaling.log"

    def ensure_daemon(self) -> None:
        if self.daemon.poll() is not None:
            self.stack.start_signaling()

    def stop_daemon(self, signum: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.daemon.send_signal(signum)
        return self.daemon.wait(timeout)

    def person(self, prefix: str = "user") -> Person:
        name = f"{prefix}{next(_names)}"
        web = self.stack.web_url
        requests.post(f"{web}/register", json={"username": name, "password": PASSWORD}, timeout=10)
        response = requests.post(
            f"{web}/login", json={"username": name, "password": PASSWORD}, timeout=10
        )
        assert response.status_code == 200, response.text
        return Person(name, response.json()["token"], web)

    def connect(self, person: Person) -> RawClient:
        """A new device of `person`, past `welcome`."""
        client = RawClient.connect(self.url)
        client.hello(person.token)
        person.clients.append(client)
        return client

    def login_again(self, person: Person) -> Person:
        """Another login session (device) of the same user."""
        web = self.stack.web_url
        response = requests.post(
            f"{web}/login", json={"username": person.name, "password": PASSWORD}, timeout=10
        )
        assert response.status_code == 200, response.text
        return Person(person.name, response.json()["token"], web)


@contextmanager
def live_system(tmp_path_factory, name: str = "live", **overrides: str) -> Iterator[Live]:
    """A running stack with LIVE_ENV and `overrides` (CHIMECAST_* settings)."""
    tmp = tmp_path_factory.mktemp(name)
    logs = tmp / "logs"
    with Stack(database_url_for(tmp), extra_env={**LIVE_ENV, **overrides}, log_dir=logs) as stack:
        yield Live(stack, logs)


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory) -> Iterator[Live]:
    with live_system(tmp_path_factory) as live:
        yield live


@pytest.fixture
def live(live_stack: Live) -> Iterator[Live]:
    live_stack.ensure_daemon()
    yield live_stack


def wait_until(predicate, timeout: float = 5, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
