"""`chimecast-signaling --workers 2`: two daemons on one port, their parent, and Redis.

The real command runs beside a real web app (SQLite) and a private Redis. Which worker a
client landed on is read from the `connections` table (each worker has its own node id,
`<host>:<port>/<n>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from app.devstack import ROOT, Stack, free_port, stop_process, wait_http_ok
from tests.calling import Person, close_all, make_person, ring_and_answer
from tests.scale.conftest import FAST_NODES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


class Workers:
    """The web app, and `chimecast-signaling --workers 2` on one port."""

    def __init__(self, stack: Stack, process: subprocess.Popen, port: int) -> None:
        self.stack, self.process, self.port = stack, process, port
        self.url = f"ws://127.0.0.1:{port}/ws"

    def children(self) -> list[int]:
        path = f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        with open(path) as handle:
            return [int(pid) for pid in handle.read().split()]

    def pid_of(self, index: int) -> int:
        """The pid of worker `index`'s latest run, from the parent's `workers.started` lines."""
        text = (self.stack.log_dir / "workers.log").read_text(errors="replace")
        found = re.findall(rf"workers\.started\b.*\bworker=({index})\b.*\bpid=(\d+)", text)
        assert found, f"no workers.started line for worker {index}"
        return int(found[-1][1])

    def node_of(self, person: Person) -> str:
        path = self.stack.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT c.node_id FROM connections c JOIN users u ON u.id = c.user_id"
                " WHERE u.username = ?",
                (person.name,),
            ).fetchall()
        assert len(rows) == 1, rows
        return rows[0][0]

    async def person_on(self, node: str) -> Person:
        """A new connected person whose socket the kernel gave to worker `node`."""
        for _ in range(60):
            person = make_person(self.stack, "user")
            await person.connect(self.url)
            if self.node_of(person) == node:
                return person
            await person.sig.close()
        raise AssertionError(f"60 connections and none on {node}")


@contextlib.contextmanager
def running_workers(tmp_path, redis_url: str, count: int = 2, **extra_env: str):
    """The web app and `chimecast-signaling --workers <count>` beside it, stopped after."""
    env = {**FAST_NODES, "CHIMECAST_REDIS_URL": redis_url, **extra_env}
    stack = Stack(
        f"sqlite:///{tmp_path / 'chimecast.db'}",
        signaling_ports=[],
        extra_env=env,
        log_dir=tmp_path / "logs",
    )
    with stack:
        port = free_port()
        argv = [sys.executable, "-m", "signaling", "--port", str(port), "--workers", str(count)]
        log = open(tmp_path / "logs" / "workers.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            argv, cwd=ROOT, env=stack.env(), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", 30, process)
            yield Workers(stack, process, port)
        finally:
            stop_process(process)
            log.close()


@pytest.fixture
def workers(tmp_path, private_redis):
    with running_workers(tmp_path, private_redis.url) as running:
        yield running


def _nodes(port: int) -> tuple[str, str]:
    import socket

    host = socket.gethostname()[:48]
    return f"{host}:{port}/0", f"{host}:{port}/1"


def test_two_workers_share_one_port_and_their_clients_call_each_other_through_redis(workers):
    first, second = _nodes(workers.port)

    async def scenario():
        alice = await workers.person_on(first)
        bob = await workers.person_on(second)
        try:
            call_id = await ring_and_answer(alice, bob)
            for sender, receiver in ((alice, bob), (bob, alice)):
                for _ in range(5):
                    await sender.sig.relay("candidate", call_id, receiver.name, None)
                for seq in range(1, 6):
                    got = await receiver.sig.wait_for("candidate", call_id=call_id, timeout=5)
                    assert (got["from"], got["seq"]) == (sender.name, seq)
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())


def test_a_killed_worker_is_restarted_and_its_clients_reconnect(workers):
    first, second = _nodes(workers.port)

    async def scenario():
        alice = await workers.person_on(first)
        bob = await workers.person_on(second)
        try:
            call_id = await ring_and_answer(alice, bob)
            before = workers.children()
            assert len(before) == 2
            os.kill(before[0], signal.SIGKILL)
            dropped = await _dropped(alice, bob)
            assert len(dropped) == 1, "exactly the killed worker's client loses its socket"
            (moved,) = dropped
            stayed = alice if moved is bob else bob
            deadline = time.monotonic() + 10
            while len(set(workers.children()) - set(before)) < 1:
                assert time.monotonic() < deadline, "the dead worker was not restarted"
                await asyncio.sleep(0.1)
            assert len(workers.children()) == 2
            await moved.connect(workers.url)  # to whichever worker the kernel picks
            assert [c["call_id"] for c in moved.sig.welcome["calls"]] == [call_id]
            for sender, receiver in ((stayed, moved), (moved, stayed)):
                await sender.sig.relay("candidate", call_id, receiver.name, None)
                got = await receiver.sig.wait_for("candidate", call_id=call_id, timeout=5)
                assert got["from"] == sender.name
            for node in (first, second):  # the restarted worker takes clients again
                await (await workers.person_on(node)).sig.close()
        finally:
            await close_all(alice, bob)

    asyncio.run(scenario())


async def _dropped(*people: Person, timeout: float = 5) -> list[Person]:
    """The people whose socket closes within `timeout` (waiting for at least one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.sig.closed is not None for p in people):
            await asyncio.sleep(0.3)  # let a second close show up, if any
            break
        await asyncio.sleep(0.05)
    return [p for p in people if p.sig.closed is not None]


def test_sigterm_to_the_parent_drains_every_worker_and_exits(workers):
    first, second = _nodes(workers.port)

    async def scenario():
        people = [await workers.person_on(first), await workers.person_on(second)]
        children = workers.children()
        started = time.monotonic()
        workers.process.send_signal(signal.SIGTERM)
        for person in people:
            going = await person.sig.wait_for("going_away", timeout=10)
            assert going["reason"] == "shutdown"
            closed = await person.sig.wait_closed(timeout=10)
            assert closed.code == 1001
        code = await asyncio.to_thread(workers.process.wait, 15)
        assert code == 0 and time.monotonic() - started < 15
        assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")]

    asyncio.run(scenario())
