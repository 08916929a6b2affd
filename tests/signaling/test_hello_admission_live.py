"""Hello admission on a real daemon (gunicorn + the daemon as subprocesses).

The hello deadline is the client's obligation: a hello received in time is served however
long the daemon takes (it is starved here with SIGSTOP), and a storm the daemon cannot serve
within a deadline is shed with 1013 and a retry hint, never with 4001 or 1011, so every
client that retries as told gets in. Runs on SQLite, or on PostgreSQL with
CHIMECAST_TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from signaling.client.socket import SignalingClient, SignalingClosed
from tests.signaling.conftest import Live, live_system
from tests.signaling.wsclient import RawClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

HELLO_TIMEOUT = 1.0
ENV = {
    "CHIMECAST_HELLO_TIMEOUT": str(HELLO_TIMEOUT),
    "CHIMECAST_HEARTBEAT_INTERVAL": "5",
    "CHIMECAST_HEARTBEAT_TIMEOUT": "20",
    "CHIMECAST_MAX_CONNECTIONS_PER_USER": "1000",
    # SIGSTOP makes every loop turn look blocked: no monitor reports.
    "GEVENT_MONITOR_THREAD_ENABLE": "false",
}  # over LIVE_ENV
STORM_CLIENTS = 600
STORM_USERS = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Live]:
    with live_system(tmp_path_factory, "admission", **ENV) as running:
        yield running


@pytest.fixture
def live(stack: Live) -> Iterator[Live]:
    stack.ensure_daemon()
    yield stack
    os.kill(stack.daemon.pid, signal.SIGCONT)  # whatever a test did


def metric(live: Live, name: str) -> dict[str, float]:
    """Samples of `name` on the daemon's /metrics, by their label text ("" if none)."""
    port = live.url.split(":")[2].split("/")[0]
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.findall(rf"^{name}(\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.M)
    return {labels: float(value) for labels, value in found}


def refused(live: Live) -> float:
    """Hellos the daemon answered 1013 so far (shed at once, or overdue)."""
    shed = metric(live, "chimecast_signaling_hellos_shed_total")
    return sum(v for labels, v in shed.items() if "departed" not in labels)


def test_a_client_that_never_sends_hello_is_closed_4001_after_the_deadline(live):
    client = RawClient.connect(live.url)
    opened = time.monotonic()
    closed = client.wait_closed(timeout=5)
    assert closed.code == 4001, closed
    assert closed.reason == "no hello in time"
    assert HELLO_TIMEOUT <= time.monotonic() - opened < HELLO_TIMEOUT + 2


def test_a_client_that_sends_hello_and_then_nothing_is_served_normally(live):
    alice = live.person("quiet")
    client = live.connect(alice)
    time.sleep(HELLO_TIMEOUT * 2.5)  # well past the hello deadline, saying nothing
    client.send({"type": "ping", "id": "p"})
    assert client.expect("pong", ref="p")["type"] == "pong"
    client.close()


def test_a_hello_sent_in_time_is_welcomed_however_late_the_daemon_reads_it(live):
    """The daemon is stopped from before the hello until past its deadline: the client did
    its part, so it is welcomed (before: 4001 "no hello in time", or 1011 from a token
    check that had no time left)."""
    bob = live.person("late")
    client = RawClient.connect(live.url)
    os.kill(live.daemon.pid, signal.SIGSTOP)
    try:
        client.send({"type": "hello", "token": bob.token, "id": 1})
        time.sleep(HELLO_TIMEOUT * 2.5)
    finally:
        os.kill(live.daemon.pid, signal.SIGCONT)
    assert client.expect("welcome", timeout=10)["ref"] == 1
    client.close()


def test_a_hello_whose_client_left_before_its_turn_is_skipped_without_a_token_check(live):
    """Both hellos wait in the kernel while the daemon is stopped; one client hangs up. Its
    hello is read, admitted, and dropped at its turn in the token batch (counted as
    departed; before: checked against the database like any other)."""
    carol = live.person("stays")
    dave = live.person("leaves")
    staying, leaving = RawClient.connect(live.url), RawClient.connect(live.url)
    departed = metric(live, "chimecast_signaling_hellos_shed_total").get('{why="departed"}', 0)
    os.kill(live.daemon.pid, signal.SIGSTOP)
    try:
        leaving.send({"type": "hello", "token": dave.token, "id": 1})
        leaving.sock.shutdown(socket.SHUT_RDWR)  # gone before the daemon reads its hello
        staying.send({"type": "hello", "token": carol.token, "id": 1})
        time.sleep(0.3)
    finally:
        os.kill(live.daemon.pid, signal.SIGCONT)
    assert staying.expect("welcome", timeout=10)["ref"] == 1
    shed = metric(live, "chimecast_signaling_hellos_shed_total")
    assert shed.get('{why="departed"}', 0) == departed + 1, shed
    staying.close()


class DutyCycle:
    """Starves a process: stopped `stopped` s, running `running` s, until stopped."""

    def __init__(self, pid: int, running: float, stopped: float) -> None:
        self.pid, self.running, self.stopped = pid, running, stopped
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._done.is_set():
                os.kill(self.pid, signal.SIGSTOP)
                time.sleep(self.stopped)
                os.kill(self.pid, signal.SIGCONT)
                time.sleep(self.running)
        finally:
            os.kill(self.pid, signal.SIGCONT)

    def __enter__(self) -> DutyCycle:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()


async def _storm(url: str, tokens: list[str], give_up_after: float) -> list[dict]:
    """Every client connects at once and retries as PROTOCOL.md says; what each went through."""

    async def one(token: str) -> dict:
        failures: list[BaseException] = []
        client = SignalingClient(url, token)
        try:
            await client.connect_retrying(
                give_up_after, timeout=30, on_retry=lambda exc, _delay: failures.append(exc)
            )
            welcomed = True
        except Exception as exc:
            failures.append(exc)
            welcomed = False
        finally:
            await client.close()
        return {"welcomed": welcomed, "failures": failures}

    return await asyncio.gather(*(one(token) for token in tokens))


def test_a_storm_on_a_starved_daemon_is_shed_with_hints_and_everyone_gets_in(live):
    people = [live.person("storm") for _ in range(STORM_USERS)]
    tokens = [people[i % STORM_USERS].token for i in range(STORM_CLIENTS)]
    shed_before = refused(live)
    started = time.monotonic()
    # Running 10 % of the time for the first 20 s: the daemon serves far fewer hellos per
    # deadline than arrive (a machine busy with other work).
    with DutyCycle(live.daemon.pid, running=0.01, stopped=0.09):
        runner = threading.Thread(
            target=lambda: results.extend(asyncio.run(_storm(live.url, tokens, 90)))
        )
        results: list[dict] = []
        runner.start()
        runner.join(20)
    runner.join(100)
    took = time.monotonic() - started

    closes = Counter(
        f.code if isinstance(f, SignalingClosed) else type(f).__name__
        for r in results
        for f in r["failures"]
    )
    print(f"storm of {STORM_CLIENTS}: all back in {took:.1f} s; failures {dict(closes)}")
    assert len(results) == STORM_CLIENTS
    # Every client sent a valid hello at once: none of them missed the hello deadline, and
    # the database was up: no 1011. Refusals are 1013 with a hint.
    assert closes[4001] == 0, closes
    assert closes[1011] == 0, closes
    hintless = [
        f
        for r in results
        for f in r["failures"]
        if isinstance(f, SignalingClosed) and f.code == 1013 and f.retry_after is None
    ]
    assert hintless == []
    assert all(r["welcomed"] for r in results), closes
    assert refused(live) - shed_before == closes[1013]  # the daemon counted what clients saw
    assert metric(live, "chimecast_signaling_hellos_waiting") == {"": 0.0}
