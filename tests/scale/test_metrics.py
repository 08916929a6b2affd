"""Both processes expose Prometheus metrics that move when users do things."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.calling import online, ring_and_answer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from a /metrics page."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_web_and_daemon_metrics_count_calls_relays_errors_and_latency(stack, people):
    alice, bob = people("alice", "bob")
    daemon = stack.signaling_url.replace("ws://", "http://").replace("/ws", "/metrics")

    async def scenario():
        async with online(stack.signaling_url, alice, bob):
            call_id = await ring_and_answer(alice, bob)
            live = scrape(daemon)
            assert live[("chimecast_signaling_connections", (("state", "open"),))] == 2
            assert live[("chimecast_signaling_live_calls", (("state", "active"),))] >= 1
            for _ in range(3):
                await alice.sig.relay("candidate", call_id, bob.name, None)
            await bob.sig.wait_for("candidate", call_id=call_id)
            offer = {"type": "offer", "sdp": "v=0\r\n"}
            reply = await alice.sig.request(
                {"type": "offer", "call_id": call_id, "to": "nobody", "payload": offer}
            )
            assert reply["code"] == "not_a_participant"
            await asyncio.to_thread(alice.api.end_call, call_id)
            await bob.sig.wait_for("ended", call_id=call_id)

    asyncio.run(scenario())
    after = scrape(daemon)
    assert after[("chimecast_signaling_relayed_total", (("type", "candidate"),))] == 3
    assert after[("chimecast_signaling_errors_total", (("code", "not_a_participant"),))] == 1
    assert after[("chimecast_signaling_event_delay_seconds_count", ())] >= 3
    assert after[("chimecast_signaling_db_duration_seconds_count", ())] > 0
    web = scrape(stack.web_url + "/metrics")
    assert web[("chimecast_calls_ended_total", (("reason", "hangup"),))] == 1
    started = (
        "chimecast_http_requests_total",
        (("endpoint", "/call/start"), ("method", "POST"), ("status", "201")),
    )
    assert web[started] == 1
    assert web[("chimecast_db_query_duration_seconds_count", ())] > 0
