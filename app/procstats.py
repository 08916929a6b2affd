"""`process_*` and `chimecast_build_info` for /metrics, in one process or a gunicorn pool.

prometheus_client's ProcessCollector reports the process it runs in. Under gunicorn the
scrape lands on any one worker, so its figures would jump from worker to worker; there
`GunicornProcessCollector` reports the sum over the master and its live workers instead
(memory, CPU seconds, open file descriptors), and the master's start time and fd limit.
A worker that exits takes its CPU seconds out of the sum: Prometheus reads the drop as a
counter reset, which `rate()` handles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import metadata

from prometheus_client import ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

SUMMED = (
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
)


def version() -> str:
    """The installed package's version ("unknown" when run from an uninstalled tree)."""
    try:
        return metadata.version("chimecast")
    except metadata.PackageNotFoundError:
        return "unknown"


class BuildInfo(Collector):
    """`chimecast_build_info{version="0.1.0"} 1`."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "chimecast_build_info", "The running ChimeCast version", labels=["version"]
        )
        info.add_metric([version()], 1)
        yield info


def _children(pid: int) -> list[int]:
    """Live child pids of `pid` (Linux /proc), [] where that cannot be read."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


class GunicornProcessCollector(Collector):
    """`process_*` summed over the gunicorn master (this worker's parent) and its workers."""

    def collect(self) -> Iterator[Metric]:
        master = os.getppid()
        workers = _children(master)
        # Not under a pool after all (no readable children): report this process alone.
        pids = [master, *workers] if os.getpid() in workers else [os.getpid()]
        totals: dict[str, float] = {}
        first: dict[str, Metric] = {}
        for index, pid in enumerate(pids):
            for family in ProcessCollector(pid=lambda pid=pid: pid, registry=None).collect():
                first.setdefault(family.name, family)
                for sample in family.samples:
                    if sample.name in SUMMED:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
                    elif index == 0:
                        totals[sample.name] = sample.value
        for family in first.values():
            out = Metric(family.name, family.documentation, family.type)
            for sample in family.samples:
                if sample.name in totals:
                    out.add_sample(sample.name, {}, totals[sample.name])
            yield out


__all__ = ["BuildInfo", "GunicornProcessCollector", "ProcessCollector", "version"]
