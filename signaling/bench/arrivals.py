"""The `arrivals` scenario: N pairs that are not connected yet all arrive at once, timed.

Users (and, on ChimeCast, their tokens) exist beforehand; the timed part is everything a
client does on arrival: TCP connect, WebSocket handshake, `hello` -> `welcome` (PeerJS:
`OPEN`), then, on ChimeCast only, the call setup (`POST /call/start`, ring, `accept`,
`accepted`), then offer, answer and 4 candidates each way. Reported: time until the last
pair is done, server CPU (and the API's), and the machine's ListenDrops during the burst.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from signaling.bench.call_setup import SetupRun
from signaling.bench.load_client import close_all
from signaling.bench.measure import (
    Progress,
    listen_drops,
    percentiles,
    probe_for,
    scaled,
    tree_cpu_seconds,
)
from signaling.bench.population import Population


async def run_arrivals(
    population: Population, *, pairs: int, timeout: float, progress: Progress, start: str = "http"
) -> dict[str, Any]:
    """`pairs` pairs connect, authenticate and negotiate (set up a call) at once; `start`
    says how a caller starts its call (see SetupRun)."""
    registered = [0]
    progress.start("users registered", 2 * pairs, lambda: registered[0])
    try:
        users = await population.users(
            2 * pairs, lambda: registered.__setitem__(0, registered[0] + 1)
        )
    finally:
        progress.stop()
    conns = [population.conn(u) for u in users]
    run = SetupRun(population, timeout, start)
    connect_ns: list[int] = []
    connect_failures: Counter[str] = Counter()
    target = population.target
    probe = probe_for(target.server_pid)
    await asyncio.sleep(0.5)
    before, web_before, drops_before = (
        probe.sample(),
        tree_cpu_seconds(target.web_pid),
        listen_drops(),
    )
    t0 = time.perf_counter_ns()

    async def arrive(index: int) -> None:
        pair = [(users[2 * index + k], conns[2 * index + k]) for k in (0, 1)]
        try:
            await asyncio.wait_for(asyncio.gather(*(c.open(timeout) for _, c in pair)), timeout)
        except Exception as exc:  # a refused or timed-out arrival is a figure, not a crash
            connect_failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            return
        connect_ns.append(time.perf_counter_ns() - t0)
        await run.one(index, pair[0], pair[1], 0)

    progress.start("pairs arrived", pairs, lambda: run.done + sum(run.failures.values())
                   + sum(connect_failures.values()))  # fmt: skip
    try:
        await asyncio.gather(*(arrive(i) for i in range(pairs)))
    finally:
        progress.stop()
    after, web_after, drops_after = probe.sample(), tree_cpu_seconds(target.web_pid), listen_drops()
    if target.has_api:  # leave no call active behind: a running system may go on
        await asyncio.gather(*(caller.request({"type": "hangup", "call_id": cid}, f"h{cid}", 30)
                               for cid, caller in run.set_up), return_exceptions=True)  # fmt: skip
    await close_all(conns)
    cpu = after.cpu_seconds - before.cpu_seconds if before and after else None
    failures = run.failures + connect_failures
    return {
        "scenario": "arrivals",
        "target": target.name,
        "pairs": pairs,
        "start": start if target.has_api else None,
        "completed": run.done,
        "failures": sum(failures.values()),
        "failure_kinds": dict(failures),
        "complete_all_s": round((run.last_done_ns - t0) / 1e9, 3) if run.done else None,
        "all_connected_s": round(max(connect_ns) / 1e9, 3) if connect_ns else None,
        "setup_ms": scaled(percentiles(run.setup_ns), 1e-6),
        "server_cpu_s": round(cpu, 3) if cpu is not None else None,
        "server_cpu_ms_per_pair": round(cpu / pairs * 1e3, 3) if cpu is not None else None,
        "web_cpu_s": round(web_after - web_before, 3) if web_before is not None else None,
        "listen_drops": drops_after - drops_before if drops_before is not None else None,
    }
