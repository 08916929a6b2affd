"""Smoke runs of `chimecast-bench` against its bare reference relay (no ChimeCast needed)."""

from __future__ import annotations

import pytest

from tests.bench.conftest import result_for, run_bench

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    "client, loop", [("raw", "uvloop"), ("websockets", "uvloop"), ("raw", "asyncio")]
)
def test_relay_closed_loop_on_reference_relays_every_message_in_order(client, loop):
    status, results = run_bench(
        "relay", "--reference-only", "--pairs", "3", "--messages", "40", "--client", client,
        "--loop", loop,
    )  # fmt: skip
    relay = result_for(results, "gevent")
    assert status == 0 and (relay["client"], relay["loop"]) == (client, loop)
    assert relay["sent"] == 3 * 2 * 40 == relay["relayed"]
    assert relay["lost"] == relay["wrong_from"] == relay["seq_gaps"] == 0
    assert relay["latency_ms"]["n"] == relay["relayed"]
    assert (
        0 < relay["latency_ms"]["p50"] <= relay["latency_ms"]["p99"] <= relay["latency_ms"]["max"]
    )
    assert relay["msgs_per_s"] > 0
    assert relay["server_cpu_us_per_msg"] is not None and relay["server_rss_mb_loaded"] > 5


def test_relay_open_loop_on_reference_keeps_to_the_offered_rate():
    _, results = run_bench(
        "relay", "--reference-only", "--pairs", "2", "--messages", "25", "--rate", "200"
    )
    relay = result_for(results, "gevent")
    assert relay["mode"] == "open" and relay["relayed"] == relay["sent"] == 100
    assert 0.4 < relay["duration_s"] < 5  # 100 messages at 200/s is half a second
    assert relay["latency_ms"]["max"] > 0


def test_capacity_on_reference_holds_every_connection():
    status, results = run_bench(
        "capacity", "--reference-only", "--connections", "60", "--hold", "1"
    )
    capacity = result_for(results, "gevent")
    assert status == 0
    assert capacity["connected"] == 60 and capacity["failures"] == 0
    assert capacity["dropped_during_hold"] == 0
    assert capacity["connect_rate_per_s"] > 0
    assert capacity["idle_cpu_percent"] is not None and capacity["rss_kb_per_conn"] is not None
