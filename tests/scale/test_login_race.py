"""Racing logins against real gunicorn workers check at most the limit of passwords.

30 wrong passwords sent at the same instant, over several worker processes and threads,
on SQLite and on PostgreSQL. How many passwords were really checked is read from the
session log (a checked wrong password is a `login_failure` row, a refused one
`login_throttled`) and from the `chimecast_logins_total` metric, which counts verifications.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.config import normalize_database_url
from app.devstack import Stack
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RACERS = 30
WRONG = "not the right password"


def post(port: int, path: str, body: dict) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def race(port: int, bodies: list[dict]) -> list[int]:
    """POST /login with every body at once (connections opened first, then one barrier)."""
    statuses: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def one(body: dict) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        payload = json.dumps(body)
        barrier.wait()
        connection.request("POST", "/login", payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        connection.close()

    threads = [threading.Thread(target=one, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return statuses


def verified(port: int) -> int:
    """Password verifications so far, summed over every worker (chimecast_logins_total)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request("GET", "/metrics")
    page = connection.getresponse().read().decode()
    connection.close()
    pattern = r'^chimecast_logins_total\{outcome="(?:success|failure)"\} ([0-9.e+]+)$'
    return int(sum(float(value) for value in re.findall(pattern, page, re.MULTILINE)))


def kinds(database_url: str, where: str) -> list[str]:
    engine = create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as connection:
            query = text(f"SELECT kind FROM auth_events WHERE {where} ORDER BY id")
            return list(connection.execute(query).scalars())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'race.db'}"
    return request.getfixturevalue("postgres_url")


def test_racing_wrong_passwords_check_at_most_the_limit(database_url, tmp_path):
    # Production Argon2 parameters: a slow check is the widest window for a race.
    env = {"CHIMECAST_ENV": "development", "CHIMECAST_ALLOWED_ORIGINS": ""}
    with Stack(
        database_url,
        signaling_ports=[],
        extra_env=env,
        log_dir=tmp_path / "logs",
        web_workers=3,
        web_threads=12,
    ) as stack:
        port = stack.web_port
        assert post(port, "/register", {"username": "alice", "password": PASSWORD}) == 201
        before = verified(port)

        statuses = race(port, [{"username": "alice", "password": WRONG}] * RACERS)
        checked = kinds(database_url, "username = 'alice' AND kind = 'login_failure'")
        print(f"one account: {statuses.count(401)} x 401, {statuses.count(429)} x 429")
        assert len(statuses) == RACERS and set(statuses) <= {401, 429}
        # Attempts in flight count against each other, so a burst may even check none.
        assert len(checked) <= 5, f"{len(checked)} passwords checked against a limit of 5"
        assert statuses.count(401) == len(checked)
        assert verified(port) - before == len(checked)
        assert kinds(database_url, "username = 'alice'").count("login_throttled") == (
            RACERS - len(checked)
        )

        alice_checked = len(checked)
        # 30 usernames at once from one address: the per-IP limit (20) holds the same way.
        before = verified(port)
        bodies = [{"username": f"user{i}", "password": WRONG} for i in range(RACERS)]
        statuses = race(port, bodies)
        checked = kinds(database_url, "username LIKE 'user%' AND kind = 'login_failure'")
        print(f"one address: {statuses.count(401)} x 401, {statuses.count(429)} x 429")
        assert alice_checked + len(checked) <= 20, "the per-IP limit counts alice's too"
        assert statuses.count(401) == len(checked) == verified(port) - before
