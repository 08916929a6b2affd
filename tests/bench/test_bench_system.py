"""Smoke runs of `chimecast-bench` against its own temporary ChimeCast (gunicorn + daemon).

Tiny counts, so each run takes seconds; the real figures are benchmarks recorded in
signaling/bench/RESULTS.md, not asserted here.
"""

from __future__ import annotations

import pytest

from tests.bench.conftest import result_for, run_bench

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_relay_through_chimecast_relays_every_message_and_compares_with_reference():
    status, results = run_bench(
        "relay", "--reference", "--pairs", "3", "--messages", "40", "--window", "2"
    )
    relay, reference = result_for(results, "chimecast"), result_for(results, "gevent")
    assert status == 0
    assert relay["sent"] == relay["relayed"] == 3 * 2 * 40
    assert relay["lost"] == relay["wrong_from"] == relay["seq_gaps"] == 0
    assert 0 < relay["latency_ms"]["p50"] <= relay["latency_ms"]["max"]
    assert relay["server_cpu_us_per_msg"] is not None
    assert relay["server_rss_mb_loaded"] > 10
    assert reference["relayed"] == reference["sent"]
    [ratio] = [r for r in results if r["target"] == "ratio"]
    assert ratio["reference"] == "gevent" and ratio["msgs_per_s"] > 0


def test_capacity_on_chimecast_authenticates_and_holds_every_connection():
    status, results = run_bench("capacity", "--connections", "40", "--hold", "1")
    capacity = result_for(results, "chimecast")
    assert status == 0
    assert capacity["connected"] == 40 and capacity["failures"] == 0
    assert capacity["dropped_during_hold"] == 0
    assert capacity["rss_kb_per_conn"] is not None and capacity["idle_cpu_percent"] is not None


@pytest.mark.parametrize("rate", ["0", "25"], ids=["all_at_once", "open_loop_rate"])
def test_setup_on_chimecast_rings_the_callee_and_completes_every_call(rate):
    status, results = run_bench("setup", "--calls", "8", "--rate", rate)
    setup = result_for(results, "chimecast")
    assert status == 0
    assert setup["completed"] == 8 and setup["failures"] == 0
    assert setup["hung_up"] == 8  # each caller ended its own call afterwards
    assert setup["ring_ms"]["n"] == 8 and setup["ring_ms"]["max"] >= 0
    assert 0 < setup["setup_ms"]["p50"] <= setup["setup_ms"]["max"]
    assert setup["complete_all_s"] > 0
    assert setup["web_cpu_s"] > 0 and setup["client_cpu_s"] > 0  # all three shares reported


def test_media_through_chimecast_connects_and_delivers_frames():
    status, results = run_bench("media", "--pairs", "1", timeout=80)
    media = result_for(results, "chimecast")
    assert status == 0
    assert media["connected"] == 1 and media["failures"] == 0
    assert 0 < media["offer_to_connected_ms"]["p50"] <= media["offer_to_first_frame_ms"]["p50"]


def test_relay_runs_report_memory_after_each_run_and_its_late_slope():
    status, results = run_bench("relay", "--pairs", "2", "--messages", "10", "--runs", "4")
    [memory] = [r for r in results if r["scenario"] == "relay-memory"]
    assert status == 0
    assert memory["runs"] == 4 and len(memory["rss_mb_after_close"]) == 4
    closed = memory["rss_mb_after_close"]
    assert memory["growth_per_run_second_half_mb"] == round(closed[3] - closed[2], 3)
