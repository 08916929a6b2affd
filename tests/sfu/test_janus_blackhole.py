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
import urllib.request
from urllib.parse import urlsplit

import pytest

from app.janus.client import JanusAdmin, JanusError, JanusSession
from tests.calling import make_person
from tests.janus import ADMIN_KEY, ADMIN_SECRET
from tests.scale.tcpproxy import TcpProxy
from tests.sfu.test_janus_rooms import _publish

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


def _pending_withdrawals(stack) -> float:
    """`chimecast_janus_withdrawals_pending` from the web app's /metrics."""
    with urllib.request.urlopen(f"{stack.web_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    lines = [x for x in text.splitlines() if x.startswith("chimecast_janus_withdrawals_pending")]
    assert lines, "no chimecast_janus_withdrawals_pending gauge"
    return float(lines[0].split()[-1])


def _token_works(credential: dict) -> bool:
    try:
        JanusSession(credential["server"], credential["token"]).attach()
    except JanusError as exc:
        assert exc.code == 403, exc  # refused, not unreachable
        return False
    return True


def test_a_withdrawal_janus_missed_is_retried_once_it_answers(stack, proxy):
    """A participant removed while the node's Admin API is blackholed: the removal answers,
    the token is still good on the node meanwhile (Janus was never told), and once the
    Admin API answers again the daemon takes the token back within a few seconds: refused
    by Janus, the feed out of the room, the pending row gone."""
    node, fault = proxy
    direct = JanusAdmin(
        node.admin_url.replace(f":{fault.port}/", f":{fault.target[1]}/"), ADMIN_SECRET, ADMIN_KEY
    )
    host, ann, bob = (make_person(stack, p) for p in ("host", "ann", "bob"))
    status, created = host.api.request("POST", "/meetings", {"name": "Big", "media": "sfu"})
    assert status == 201, created
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    assert host.api.request("POST", f"/meetings/{meeting_id}/join", {})[0] == 200
    status, joined = ann.api.request("POST", f"/meetings/{meeting_id}/join", {"invite": invite})
    assert status == 200 and joined["state"] == "admitted", joined
    credential = joined["meeting"]["sfu"]
    session = _publish(credential)
    room = credential["room"]
    assert credential["feed"] in [p["id"] for p in direct.participants(room)]

    fault.blackhole()
    status, reply = host.api.request("POST", f"/meetings/{meeting_id}/remove",
                                     {"username": ann.name})  # fmt: skip
    assert status == 200, reply
    # Janus was never told: the token still opens the room, the feed is still in it
    assert _token_works(credential)
    assert credential["feed"] in [p["id"] for p in direct.participants(room)]
    assert _pending_withdrawals(stack) == 1
    window = time.monotonic() + 4  # the daemon's retries meet the blackhole too, back off,
    while time.monotonic() < window:  # and hold no lock meanwhile
        _others_go_on(host, bob, meeting_id)
    assert _token_works(credential)

    fault.restore()
    restored = time.monotonic()
    while _token_works(credential):
        assert time.monotonic() - restored < 30, "the removed participant's token still works"
        time.sleep(0.2)
    took = time.monotonic() - restored
    assert credential["feed"] not in [p["id"] for p in direct.participants(room)]
    with pytest.raises(JanusError):
        session.attach()  # her session was destroyed
    tokens = direct._call({"janus": "list_tokens"})["data"]["tokens"]
    assert credential["token"] not in [t["token"] for t in tokens]
    deadline = time.monotonic() + 5
    while _pending_withdrawals(stack) != 0:
        assert time.monotonic() < deadline, "the withdrawal row stayed"
        time.sleep(0.2)
    print(f"token refused {took:.1f} s after the Admin API answered again")
