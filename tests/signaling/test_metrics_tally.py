"""The daemon's per-message counters: plain dict bumps, exposed as Prometheus counters."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from signaling.metrics import Tally


def test_a_tally_is_exposed_as_a_counter_with_its_label():
    registry = CollectorRegistry()
    relayed = Tally("test_relayed_total", "Relayed", "type", registry)
    for kind in ("offer", "candidate", "candidate"):
        relayed.inc(kind)
    (family,) = text_string_to_metric_families(generate_latest(registry).decode())
    assert family.type == "counter" and family.name == "test_relayed"
    samples = {(s.name, s.labels["type"]): s.value for s in family.samples}
    assert samples == {("test_relayed_total", "offer"): 1, ("test_relayed_total", "candidate"): 2}
