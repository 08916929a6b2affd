"""What a Prometheus user checks first: names, types, bounded labels, process metrics.

Real gunicorn (the shipped config, multiprocess mode) and a real daemon on Redis; hostile
traffic first (made-up paths, methods and message types), then a scrape of both.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import secrets
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.calling import online, ring_and_answer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MARK = "zz" + secrets.token_hex(6)  # appears in no label value unless one is unbounded

# Every label and what its values may be: a fixed set or a short pattern.
LABELS = {
    "method": {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"},
    "endpoint": re.compile(r"^(unmatched|/[a-z0-9_/<>:.-]*)$"),
    "status": re.compile(r"^[1-5]\d\d$"),
    "code": re.compile(r"^([a-z][a-z_]{0,40}|\d{4})$"),
    "outcome": re.compile(r"^[a-z_]{1,32}$"),
    "reason": {"hangup", "declined", "cancelled", "missed", "busy", "connection_lost"},
    "state": {"ringing", "active", "handshake", "open", "closing"},
    "type": {"offer", "answer", "candidate"},
    "cause": {"start", "wake", "fallback"},  # chimecast_signaling_outbox_reads_total
    "version": re.compile(r"^[0-9A-Za-z.+-]{1,40}$"),
    "le": re.compile(r"^([0-9.e+-]+|\+Inf)$"),
}


@pytest.fixture
def stack_env(redis_url):
    return {"CHIMECAST_REDIS_URL": redis_url}


def families(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(found: dict, family: str, sample: str | None = None, **labels: str) -> float:
    for s in found[family].samples:
        if s.name == (sample or family) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError((family, sample, labels))


def hostile_http(host: str, port: int) -> None:
    for method, path in [
        ("GET", f"/{MARK}"),
        ("GET", f"/users/{MARK}"),
        (f"X{MARK.upper()}", "/healthz"),
        ("POST", f"/call/{MARK}/accept"),
    ]:
        connection = http.client.HTTPConnection(host, port, timeout=5)
        connection.request(method, path)
        connection.getresponse().read()
        connection.close()


def pids_of_pool(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def check_names_types_and_labels(found: dict) -> None:
    for name, family in found.items():
        assert name.startswith(("chimecast_", "process_")), name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        else:
            assert not name.endswith("_total"), f"{name} is a {family.type} named like a counter"
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
        for sample in family.samples:
            for key, label in sample.labels.items():
                assert MARK not in label.lower(), (name, key, label)
                allowed = LABELS.get(key)
                assert allowed is not None, f"{name} has an unreviewed label {key!r}"
                ok = label in allowed if isinstance(allowed, set) else allowed.match(label)
                assert ok, (name, key, label)


def test_both_processes_export_process_build_call_and_queue_metrics_with_bounded_labels(
    stack, people
):
    alice, bob = people("alice", "bob")
    web_host, web_port = stack.host, stack.web_port
    daemon_url = stack.signaling_url.replace("ws://", "http://").replace("/ws", "/metrics")
    hostile_http(web_host, web_port)

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            call_id = await ring_and_answer(alice, bob)  # accepted over the socket
            reply = await alice.sig.request({"type": MARK, "call_id": call_id})
            assert reply["type"] == "error"
            during = families(daemon_url)
            assert value(during, "chimecast_signaling_connections", state="open") == 2
            assert value(during, "chimecast_signaling_live_calls", state="active") == 1
            web_during = families(stack.web_url + "/metrics")
            assert value(web_during, "chimecast_calls_live", state="active") == 1
            await alice.sig.hangup(call_id)
            await bob.sig.wait_for("ended", call_id=call_id)

    asyncio.run(scenario())
    daemon, web = families(daemon_url), families(stack.web_url + "/metrics")
    for found in (daemon, web):
        check_names_types_and_labels(found)
        assert value(found, "chimecast_build_info", version=found["chimecast_build_info"]
                     .samples[0].labels["version"]) == 1  # fmt: skip
        assert found["process_resident_memory_bytes"].type == "gauge"
        assert found["process_cpu_seconds"].type == "counter"
        assert value(found, "process_open_fds") > 0
    for name, kind in [
        ("chimecast_calls_ended", "counter"),
        ("chimecast_call_setup_seconds", "histogram"),
    ]:
        assert daemon[name].type == kind  # on the web app too, once it has counted one
    # The socket accept and the socket hang-up were the daemon's: it counts them.
    assert value(daemon, "chimecast_call_setup_seconds", "chimecast_call_setup_seconds_count") == 1
    assert (
        value(daemon, "chimecast_calls_ended", "chimecast_calls_ended_total", reason="hangup") == 1
    )
    assert value(web, "chimecast_calls_live", state="active") == 0
    assert value(daemon, "chimecast_signaling_redis_connected") == 1
    assert value(daemon, "chimecast_signaling_outbox_backlog") == 0
    assert value(daemon, "chimecast_signaling_outbox_lag_seconds") < 5
    # signaling.server.steady_collector ran: the app, SQLAlchemy and the modules (100,000+
    # objects) are out of the collector's rounds.
    assert value(daemon, "chimecast_signaling_gc_frozen_objects") > 50_000
    assert web["chimecast_http_request_duration_seconds"].type == "histogram"
    assert value(web, "chimecast_webhook_queue_depth") == 0
    assert value(web, "chimecast_webhook_oldest_pending_age_seconds") == 0
    methods = {s.labels["method"] for s in web["chimecast_http_requests"].samples}
    assert "other" in methods, methods
    # The web app's process figures are the whole pool's, not one worker's.
    pool = pids_of_pool(stack.processes["web"].pid)
    assert len(pool) == 1 + stack.web_workers
    measured = sum(rss_bytes(pid) for pid in pool)
    reported = value(web, "process_resident_memory_bytes")
    assert 0.8 * measured < reported < 1.25 * measured, (reported, measured)
