"""The `storm` scenario: N connected clients lose their connections at once and come back.

The drop is client-side: every socket is aborted at the same moment (a TCP reset, as when
a network blip or a NAT rebinding kills them), and every client reconnects at once with
the same identity and sends `hello` again (PeerJS: reconnects with the same id and token
and waits for `OPEN`). Timed from the drop until the last client is welcomed again.
Client-side rather than a daemon restart so that both servers pay exactly the same thing:
noticing N dead sockets and accepting and authenticating N new ones; a restart would add
the daemon's own start-up and miss the clean-up of the old connections.

A client whose connection attempt fails (refused, reset, timed out) retries after 1 s, or
after the server's hint when it closed 1013 "retry after N s" (PROTOCOL.md), up to
`timeout`; the retries are counted by kind (close code). Also reported: the server CPU for the whole storm
per reconnected client and the machine's ListenDrops during it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from signaling.backlog import somaxconn
from signaling.bench.load_client import BenchConn, close_all
from signaling.bench.measure import Progress, percentiles, probe_for, scaled, tcp_ext
from signaling.bench.population import Population
from signaling.client.socket import retry_after

RETRY_AFTER_S = 1.0


async def _connect_all(conns: list[BenchConn], concurrency: int, progress: Progress,
                       label: str) -> Counter[str]:  # fmt: skip
    limit = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()
    done = [0]

    async def one(conn: BenchConn) -> None:
        async with limit:
            try:
                await conn.open(timeout=30)
            except Exception as exc:  # every failure is a figure, not a crash
                failures[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
            done[0] += 1

    progress.start(label, len(conns), lambda: done[0])
    try:
        await asyncio.gather(*(one(c) for c in conns))
    finally:
        progress.stop()
    return failures


async def run_storm(
    population: Population, *, connections: int, concurrency: int, timeout: float,
    progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    """Connect `connections` clients, drop them all at once, time until all are back."""
    registered = [0]
    progress.start("users registered", connections, lambda: registered[0])
    try:
        users = await population.users(
            connections, lambda: registered.__setitem__(0, registered[0] + 1)
        )
    finally:
        progress.stop()
    first = [population.conn(u) for u in users]
    failed_first = await _connect_all(first, concurrency, progress, "connections")
    probe = probe_for(population.target.server_pid)
    await asyncio.sleep(1.0)
    before, tcp_before = probe.sample(), tcp_ext()
    again: list[BenchConn] = list(first)
    back_ns: list[int] = []
    retries: Counter[str] = Counter()
    t0 = time.perf_counter_ns()
    deadline = time.monotonic() + timeout
    for conn in first:
        conn.abort()

    async def come_back(index: int) -> None:
        while True:
            conn = again[index] = population.conn(users[index])
            try:
                await conn.open(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # retried, like a client with a reconnect loop
                retries[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
                conn.abort()
                hint = retry_after(conn.close_code, conn.close_reason)
                delay = RETRY_AFTER_S if hint is None else hint
                if time.monotonic() + delay >= deadline:
                    return
                await asyncio.sleep(delay)
                continue
            back_ns.append(time.perf_counter_ns() - t0)
            return

    progress.start("welcomed again", connections, lambda: len(back_ns))
    try:
        await asyncio.gather(*(come_back(i) for i in range(connections)))
    finally:
        progress.stop()
    await asyncio.sleep(0.5)  # the server may still be closing the old sockets: count that too
    after, tcp_after = probe.sample(), tcp_ext()
    await close_all(again)
    cpu = after.cpu_seconds - before.cpu_seconds if before and after else None
    back = len(back_ns)
    return {
        "scenario": "storm",
        "target": population.target.name,
        "connections": connections,
        "connected_before": connections - sum(failed_first.values()),
        "welcomed_again": back,
        "failures": connections - back,
        "retries": sum(retries.values()),
        "retry_kinds": dict(retries),
        "all_back_s": round(max(back_ns) / 1e9, 3) if back == connections else None,
        "back_ms": scaled(percentiles(back_ns), 1e-6),
        "reconnect_rate_per_s": round(back / (max(back_ns) / 1e9), 1) if back_ns else None,
        "server_cpu_s": round(cpu, 3) if cpu is not None else None,
        "server_cpu_ms_per_conn": round(cpu / back * 1e3, 3) if cpu is not None and back else None,
        # Machine-wide TcpExt deltas: ListenOverflows (accept queue full) is the part of
        # ListenDrops a bigger backlog or faster accepting cures.
        "listen_drops": _delta(tcp_before, tcp_after, "ListenDrops"),
        "listen_overflows": _delta(tcp_before, tcp_after, "ListenOverflows"),
        "somaxconn": somaxconn(),
    }


def _delta(before: dict[str, int], after: dict[str, int], name: str) -> int | None:
    return after[name] - before[name] if name in before and name in after else None
