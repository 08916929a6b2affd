"""The webhook worker (`flask webhooks deliver`) survives a database outage quietly.

It reaches PostgreSQL through a TCP proxy, so the test can cut the database while a delivery
is due and bring it back: the worker must stay up, log a few lines instead of a traceback, and
deliver once the database is back, with no restart. `--once` against a dead database exits 1
with one clear line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from app import create_app
from app.clock import utcnow
from app.devstack import ROOT, free_port, stop_process
from app.extensions import db
from app.models import WebhookDelivery
from tests.app.test_webhooks import SECRET, receiver, start_call
from tests.conftest import FAST_HASHING, Auth
from tests.scale.tcpproxy import TcpProxy

__all__ = ["receiver"]  # the fixture, imported for this module

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CUT_SECONDS = 6.0


def worker_env(database_url: str, hook_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CHIMECAST_ENV": "development",
        "CHIMECAST_DATABASE_URL": database_url,
        "CHIMECAST_WEBHOOK_URLS": hook_url,
        "CHIMECAST_WEBHOOK_SECRET": SECRET,
        "CHIMECAST_DB_CONNECT_TIMEOUT": "2",
    }


def deliver_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", "webhooks", "deliver", *options]


class Stderr:
    """A child's stderr lines with the monotonic time each arrived, read from a thread."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for raw in process.stderr:
            self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    def between(self, start: float, end: float) -> list[str]:
        return [line for at, line in self.lines if start <= at <= end]

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def wait_until(condition, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {within}s"
        time.sleep(0.05)


@pytest.fixture
def server_app(postgres_url):
    """The app on the (emptied) PostgreSQL test database, on the real clock."""
    app = create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": postgres_url, **FAST_HASHING})
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def enqueue_due_in(app, seconds: float) -> None:
    """A second delivery of the first event, due `seconds` from now."""
    with app.app_context():
        first = db.session.scalars(db.select(WebhookDelivery)).first()
        db.session.add(
            WebhookDelivery(
                event_id=first.event_id,
                url=first.url,
                next_attempt_at=utcnow() + timedelta(seconds=seconds),
            )
        )
        db.session.commit()


def test_worker_survives_database_cut_quietly_and_delivers_after_it(server_app, receiver):
    endpoint = receiver()
    server_app.config.update(WEBHOOK_URLS=[endpoint.url], WEBHOOK_SECRET=SECRET)
    start_call(Auth(server_app.test_client()), server_app.test_client())  # delivery 1, due now
    target = urlsplit(server_app.config["SQLALCHEMY_DATABASE_URI"])
    proxy = TcpProxy((target.hostname, target.port or 5432))
    proxied = server_app.config["SQLALCHEMY_DATABASE_URI"].replace(
        f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}"
    )
    worker = subprocess.Popen(
        deliver_command("--interval", "0.1"),
        cwd=ROOT, env=worker_env(proxied, endpoint.url),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    stderr = Stderr(worker)
    try:
        wait_until(lambda: len(endpoint.requests) == 1, 30, "the first delivery")
        enqueue_due_in(server_app, 2.0)  # falls due in the middle of the cut

        cut_at = time.monotonic()  # before the cut: the worker may log before cut() returns
        proxy.cut()
        time.sleep(CUT_SECONDS)
        assert worker.poll() is None, f"the worker died during the cut:\n{stderr.text()}"
        during = stderr.between(cut_at, time.monotonic())
        assert len(endpoint.requests) == 1, "delivered without a database?"

        proxy.restore()
        restored_at = time.monotonic()
        wait_until(lambda: len(endpoint.requests) == 2, 15, "the delivery after the cut")
        took = time.monotonic() - restored_at
        wait_until(lambda: "outage.end" in stderr.text(), 5, "the outage.end line")
    finally:
        stop_process(worker)
        proxy.close()

    text = "\n".join(during)
    assert "Traceback" not in stderr.text(), stderr.text()[:3000]
    assert len(during) <= 5, f"{len(during)} lines in a {CUT_SECONDS}s cut:\n{text}"
    assert "outage.start" in text and "what=database" in text, text
    assert took < 12, f"the pending delivery arrived {took:.1f}s after the database came back"
    ended = [line for line in stderr.text().splitlines() if "outage.end" in line]
    assert len(ended) == 1 and "what=database" in ended[0], ended


def test_once_with_database_down_exits_1_with_one_line(tmp_path):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    result = subprocess.run(
        deliver_command("--once"),
        cwd=ROOT, env=worker_env(dead, "http://127.0.0.1:9/hooks"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "database" in lines[0].lower(), result.stderr
