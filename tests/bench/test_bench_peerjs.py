"""`chimecast-bench --reference peerjs`: PeerJS server 1.0.2 run in the same invocation.

Tiny counts: these prove the harness speaks PeerJS's protocol and reports both references
side by side; the figures themselves are in signaling/bench/RESULTS.md.
"""

from __future__ import annotations

import pytest

from tests.bench.conftest import result_for, run_bench

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(90),
    pytest.mark.usefixtures("peerjs_installed"),
]


def test_relay_on_peerjs_delivers_every_message_stamped_with_its_sender():
    status, results = run_bench(
        "relay", "--reference", "peerjs", "--reference-only", "--pairs", "3", "--messages", "30"
    )
    relay = result_for(results, "peerjs")
    assert status == 0
    assert relay["sent"] == relay["relayed"] == 3 * 2 * 30
    assert relay["lost"] == relay["wrong_from"] == 0
    assert relay["latency_ms"]["n"] == relay["relayed"] and relay["latency_ms"]["p50"] > 0
    assert relay["server_cpu_us_per_msg"] is not None and relay["server_rss_mb_loaded"] > 10


def test_arrivals_and_storm_on_peerjs_welcome_every_client():
    status, results = run_bench(
        "arrivals", "--reference", "peerjs", "--reference-only", "--pairs", "20"
    )
    arrivals = result_for(results, "peerjs")
    assert status == 0 and arrivals["completed"] == 20 and arrivals["failures"] == 0
    assert 0 < arrivals["all_connected_s"] <= arrivals["complete_all_s"]
    status, results = run_bench(
        "storm", "--reference", "peerjs", "--reference-only", "--connections", "60"
    )
    storm = result_for(results, "peerjs")
    assert status == 0 and storm["welcomed_again"] == 60 and storm["failures"] == 0
    assert storm["all_back_s"] > 0 and storm["server_cpu_ms_per_conn"] is not None


def test_report_shows_chimecast_beside_both_references_with_a_ratio_for_each():
    status, results = run_bench(
        "arrivals", "--reference", "peerjs,gevent", "--pairs", "5", timeout=80
    )
    assert status == 0
    for name in ("chimecast", "peerjs", "gevent"):
        assert result_for(results, name)["completed"] == 5
    ratios = {r["reference"]: r for r in results if r["target"] == "ratio"}
    assert ratios.keys() == {"peerjs", "gevent"}
    assert ratios["peerjs"]["complete_all_s"] > 0
    assert {r["pinned"] for r in results if r["target"] != "ratio"} == {True}
