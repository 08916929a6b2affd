"""A Janus node that stops answering (a blackholed network: connections stay open, nothing
comes back) must not hold the database. ChimeCast decides under the meeting's lock,
commits, and only then talks to Janus: other requests, on this meeting and elsewhere, go
on while a Janus request hangs, and the stuck request ends within its timeout with a clear
answer and records that agree with what Janus was told.

Real processes: gunicorn, the daemon and Janus, on SQLite or (CHIMECAST_TEST_DATABASE_URL)
PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
import time
from urllib.parse import urlsplit

import pytest

from app.janus.client import JanusSession
from tests.calling import make_person
from tests.janus import ADMIN_KEY
from tests.scale.tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
PROMPT = 1.0  # seconds: a request that waits on nobody's Janus call
JANUS_TIMEOUT = 2.0  # JanusAdmin's per-request timeout


@pytest.fixture
def proxy(janus_nodes):
    """The node's Admin API behind a fault proxy (the API clients use stays direct)."""
    node = janus_nodes()
    admin = urlsplit(node.admin_url)
    fault = TcpProxy((admin.hostname, admin.port))
    yield (
        dataclasses.replace(
            node, admin_url=node.admin_url.replace(f":{admin.port}/", f":{fault.port}/")
        ),
        fault,
    )
    fault.close()


@pytest.fixture
def stack_env(proxy) -> dict[str, str]:
    node, _ = proxy
    return {"CHIMECAST_JANUS_URLS": node.setting, "CHIMECAST_JANUS_ADMIN_KEY": ADMIN_KEY}


class Background:
    """One HTTP request in a thread, timed."""

    def __init__(self, person, method: str, path: str, body: dict | None = None) -> None:
        self.result: tuple[int, dict] | None = None
        self.started = time.monotonic()
        self.elapsed = 0.0
        self._thread = threading.Thread(target=self._run, args=(person, method, path, body))
        self._thread.start()

    def _run(self, person, method, path, body) -> None:
        self.result = person.api.request(method, path, body)
        self.elapsed = time.monotonic() - self.started

    def wait(self) -> tuple[int, dict]:
        self._thread.join(15)
        assert self.result is not None, "the request never ended"
        return self.result


def _timed(person, method: str, path: str, body: dict | None = None) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, reply = person.api.request(method, path, body)
    return status, reply, time.monotonic() - started


def _others_go_on(host, bob, meeting_id: int) -> None:
    """While a Janus request hangs: the same meeting takes a change that needs no Janus,
    and another user creates a meeting (a write anywhere in the app)."""
    time.sleep(0.3)  # let the stuck request reach Janus
    for locked in (True, False):
        status, reply, took = _timed(host, "POST", f"/meetings/{meeting_id}/lock",
                                     {"locked": locked})  # fmt: skip
        assert status == 200 and took < PROMPT, (status, reply, took)
    status, reply, took = _timed(bob, "POST", "/meetings", {"name": "Mesh", "media": "mesh"})
    assert status == 201 and took < PROMPT, (status, reply, took)


def test_a_blackholed_janus_holds_no_lock_and_a_stuck_admission_is_a_clean_503(stack, proxy):
    node, fault = proxy
    host, ann, bob = (make_person(stack, p) for p in ("host", "ann", "bob"))
    status, created = host.api.request("POST", "/meetings", {"name": "Big", "media": "sfu"})
    assert status == 201, created
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    assert host.api.request("POST", f"/meetings/{meeting_id}/join", {})[0] == 200

    fault.blackhole()
    stuck = Background(ann, "POST", f"/meetings/{meeting_id}/join", {"invite": invite})
    _others_go_on(host, bob, meeting_id)
    status, reply = stuck.wait()
    assert status == 503 and reply["error"] == "sfu_unavailable", reply
    assert stuck.elapsed < 3 * JANUS_TIMEOUT
    # nobody half admitted: ann is not in, and has no credential
    shown = host.api.request("GET", f"/meetings/{meeting_id}")[1]
    assert [p.startswith("host") for p in shown["participants"]] == [True], shown
    status, mine = ann.api.request("GET", f"/meetings/{meeting_id}")
    assert status == 404 or (mine.get("sfu") is None and ann.name not in mine["participants"]), mine

    fault.restore()
    status, joined = ann.api.request("POST", f"/meetings/{meeting_id}/join", {"invite": invite})
    assert status == 200 and joined["state"] == "admitted", joined
    credential = joined["meeting"]["sfu"]
    JanusSession(credential["server"], credential["token"]).attach()

    fault.blackhole()
    removing = Background(host, "POST", f"/meetings/{meeting_id}/remove",
                          {"username": ann.name})  # fmt: skip
    _others_go_on(host, bob, meeting_id)
    status, reply = removing.wait()
    assert status in (200, 503) and removing.elapsed < 5 * JANUS_TIMEOUT, (status, reply)
    assert ann.api.request("POST", f"/meetings/{meeting_id}/join", {"invite": invite})[0] == 403

    ending = Background(host, "POST", f"/meetings/{meeting_id}/end")
    time.sleep(0.3)  # let it reach Janus
    status, reply, took = _timed(bob, "POST", "/meetings", {"name": "Mesh", "media": "mesh"})
    assert status == 201 and took < PROMPT, (status, reply, took)
    status, reply = ending.wait()
    assert status in (200, 503), reply
    assert host.api.request("GET", f"/meetings/{meeting_id}")[1]["state"] == "ended"
