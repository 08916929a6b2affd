"""The load tool's arithmetic and /proc readers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from signaling.bench.measure import ProcessProbe, percentiles, scaled
from signaling.bench.report import ratios


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}),
        ([7], {"p50": 7, "p95": 7, "p99": 7, "max": 7, "n": 1}),
        (list(range(1, 101)), {"p50": 50, "p95": 95, "p99": 99, "max": 100, "n": 100}),
        ([5, 1, 4, 2, 3], {"p50": 3, "p95": 5, "p99": 5, "max": 5, "n": 5}),
    ],
)
def test_percentiles_use_the_nearest_rank(values, expected):
    assert percentiles(values) == expected


def test_scaled_converts_figures_but_not_the_count():
    assert scaled({"p50": 1_500_000, "max": None, "n": 3}, 1e-6) == {
        "p50": 1.5,
        "max": None,
        "n": 3,
    }


def test_probe_reads_cpu_and_rss_of_a_live_process():
    probe = ProcessProbe(os.getpid())
    first = probe.sample()
    sum(i * i for i in range(2_000_000))  # burn some CPU
    second = probe.sample()
    assert second.cpu_seconds > first.cpu_seconds
    assert 10 * 2**20 < second.rss_bytes < 4 * 2**30


def test_ratios_divide_system_figures_by_reference_figures():
    system = {"scenario": "relay", "server_cpu_us_per_msg": 60.0, "msgs_per_s": 5000,
              "latency_ms": {"p50": 1.0, "p99": 4.0}}  # fmt: skip
    reference = {"scenario": "relay", "server_cpu_us_per_msg": 120.0, "msgs_per_s": 0,
                 "latency_ms": {"p50": 0.5, "p99": None}}  # fmt: skip
    out = ratios(system, reference)
    assert out["server_cpu_us_per_msg"] == 0.5
    assert out["latency_ms.p50"] == 2.0
    assert out["msgs_per_s"] is None and out["latency_ms.p99"] is None


def test_probe_of_a_vanished_process_reports_nothing_rather_than_failing():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert ProcessProbe(child.pid).sample() is None
