"""The `capacity` scenario: C authenticated idle connections, held, then closed.

Reports how fast they connected, how many failed (by kind), the server's RSS per 1,000
connections (loaded minus before, from /proc) and its CPU while they sat idle, which is
the cost of heartbeats and timers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import Any

from signaling.bench.load_client import BenchConn, close_all
from signaling.bench.measure import Progress, cpu_between, listen_drops, probe_for
from signaling.bench.population import Population


def _kind(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:80]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_capacity(
    population: Population,
    *,
    connections: int,
    per_user: int,
    concurrency: int,
    hold: float,
    progress: Progress,
) -> dict[str, Any]:
    """Open `connections` sockets (`per_user` per user), hold them `hold` s, close them."""
    registered = [0]
    progress.start("users registered", math.ceil(connections / per_user), lambda: registered[0])
    try:
        users = await population.users(
            math.ceil(connections / per_user), lambda: registered.__setitem__(0, registered[0] + 1)
        )
    finally:
        progress.stop()
    probe = probe_for(population.target.server_pid)
    await asyncio.sleep(0.5)
    before, drops_before = probe.sample(), listen_drops()
    conns = [population.conn(users[i // per_user]) for i in range(connections)]
    failures: Counter[str] = Counter()
    connected: list[BenchConn] = []
    limit = asyncio.Semaphore(concurrency)

    async def one(conn: BenchConn) -> None:
        async with limit:
            try:
                await conn.open(timeout=30)
            except Exception as exc:  # every failure is a figure, not a crash
                failures[_kind(exc)] += 1
                await conn.close()
            else:
                connected.append(conn)

    started = time.monotonic()
    progress.start("connections", connections, lambda: len(connected) + sum(failures.values()))
    try:
        await asyncio.gather(*(one(c) for c in conns))
    finally:
        progress.stop()
    connect_seconds = time.monotonic() - started
    accepted, drops_after = probe.sample(), listen_drops()
    await asyncio.sleep(1.0)  # let the server settle after the burst before the idle figures
    loaded = probe.sample()
    held_from = time.monotonic()
    progress.start("holding (seconds)", int(hold), lambda: int(time.monotonic() - held_from))
    try:
        await asyncio.sleep(hold)
    finally:
        progress.stop()
    held = probe.sample()
    hold_seconds = time.monotonic() - held_from
    dropped = Counter(c.close_code for c in connected if c.closed.is_set())
    await close_all(conns)
    await asyncio.sleep(1.0)
    closed = probe.sample()
    idle_cpu = cpu_between(loaded, held)
    growth = (loaded.rss_bytes - before.rss_bytes) if before and loaded else None
    return {
        "scenario": "capacity",
        "target": population.target.name,
        "connections": connections,
        "per_user": per_user,
        "connected": len(connected),
        "failures": sum(failures.values()),
        "failure_kinds": dict(failures),
        "connect_s": round(connect_seconds, 3),
        "connect_rate_per_s": round(len(connected) / connect_seconds, 1)
        if connect_seconds
        else None,
        "server_cpu_ms_per_conn": round(cpu_between(before, accepted) / len(connected) * 1e3, 3)
        if before and accepted and connected
        else None,
        "listen_drops": drops_after - drops_before if drops_before is not None else None,
        "hold_s": round(hold_seconds, 1),
        "dropped_during_hold": sum(dropped.values()),
        "drop_close_codes": {str(k): v for k, v in dropped.items()},
        "server_rss_mb_before": _mb(before),
        "server_rss_mb_loaded": _mb(loaded),
        "server_rss_mb_after_hold": _mb(held),
        "server_rss_mb_after_close": _mb(closed),
        "rss_kb_per_conn": round(growth / len(connected) / 1024, 2)
        if growth is not None and connected
        else None,
        "rss_mb_per_1000": round(growth / len(connected) * 1000 / 2**20, 2)
        if growth is not None and connected
        else None,
        "idle_cpu_percent": round(idle_cpu / hold_seconds * 100, 2)
        if idle_cpu is not None
        else None,
    }


def _mb(sample) -> float | None:
    return round(sample.rss_bytes / 2**20, 2) if sample is not None else None
