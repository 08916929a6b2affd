"""Smoke run of `chimecast-bench meetings` against its own ChimeCast and a real Janus:
upstream per participant on a mesh grows with the others, through the SFU it is one stream."""

from __future__ import annotations

import pytest

from tests.bench.conftest import run_bench
from tests.janus import ADMIN_KEY, JANUS, SKIP_REASON, start_janus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def test_meetings_measures_mesh_and_sfu_upstream_in_one_run(tmp_path):
    if JANUS is None:
        pytest.skip(SKIP_REASON)
    node = start_janus(tmp_path / "janus")
    try:
        status, results = run_bench(
            "meetings", "--sizes", "2,3", "--window", "2", "--processes", "2",
            "--janus-pid", str(node.process.pid),
            "--env", f"CHIMECAST_JANUS_URLS={node.setting}",
            "--env", f"CHIMECAST_JANUS_ADMIN_KEY={ADMIN_KEY}",
            timeout=140,
        )  # fmt: skip
    finally:
        node.stop()
    assert status == 0
    figures = {(r["media"], r["participants"]): r for r in results}
    assert set(figures) == {("mesh", 2), ("sfu", 2), ("mesh", 3), ("sfu", 3)}
    assert all(r["upstream_kbps_min"] > 0 for r in results)
    # Two others on a mesh: about twice one stream; the SFU: one stream at any size.
    assert (
        figures[("mesh", 3)]["upstream_kbps_median"]
        > 1.5 * figures[("sfu", 3)]["upstream_kbps_median"]
    )
    assert figures[("sfu", 3)]["janus_cpu_per_participant"] is not None
    # spread over two worker processes, sending the pre-encoded clip (no encoder)
    assert all(r["processes"] == 2 and r["load1"] >= 0 for r in results)
