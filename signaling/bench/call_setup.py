"""The `setup` scenario: K calls set up the way a client does it, all at once or at a rate.

Per call: `POST /call/start` (caller), `incoming` at the callee (the ring), `accept` over
the socket, `accepted` at the caller, then the caller's offer and 4 candidates and the
callee's answer and 4 candidates. A call is set up when both sides have everything.
On the reference relay there is no HTTP and no ring: the negotiation starts at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from signaling.bench.load_client import BenchConn, close_all
from signaling.bench.measure import Progress, percentiles, probe_for, scaled, tree_cpu_seconds
from signaling.bench.population import Population, User, answer
from signaling.bench.relay import CANDIDATE_BODY, SDP_BODY

CANDIDATES = 4


def _negotiation(kind: str, call_id: int, to: str, index: int = 0) -> dict[str, Any]:
    if kind == "candidate":
        payload: dict[str, Any] = {"candidate": f"{CANDIDATE_BODY}generation 0 ufrag Zx9q {index}",
                                   "sdpMid": "0", "sdpMLineIndex": 0}  # fmt: skip
    else:
        payload = {"type": kind, "sdp": SDP_BODY}
    return {"type": kind, "call_id": call_id, "to": to, "payload": payload}


async def _send_all(conn: BenchConn, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        await conn.send(message)  # in the target's dialect


class SetupRun:
    def __init__(self, population: Population, timeout: float, start: str = "http") -> None:
        """`start`: how each caller starts its call, "http" (POST /call/start) or "socket"
        (a `call` message on its signaling connection)."""
        self.population = population
        self.timeout = timeout
        self.start = start
        self.ring_ns: list[int] = []
        self.post_ns: list[int] = []
        self.accept_ns: list[int] = []  # ring -> `accepted` at the caller
        self.negotiation_ns: list[int] = []  # `accepted` (or start) -> everything relayed
        self.setup_ns: list[int] = []
        self.last: dict[str, int] = dict.fromkeys(("posted", "rung", "accepted"), 0)
        self.early_rings = 0
        self.done = 0
        self.failures: Counter[str] = Counter()
        self.last_done_ns = 0
        self.set_up: list[tuple[int, BenchConn]] = []  # (call id, the caller's connection)

    async def one(self, index: int, caller: tuple[User, BenchConn], callee: tuple[User, BenchConn],
                  start_ns: int) -> None:  # fmt: skip
        """Set up call `index`, starting at `start_ns` (perf_counter_ns); record its figures."""
        delay = (start_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.perf_counter_ns()
        try:
            await asyncio.wait_for(self._negotiate(index, caller, callee), self.timeout)
        except Exception as exc:  # a failed call is a figure, not a crash
            self.failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            return
        finished = time.perf_counter_ns()
        self.setup_ns.append(finished - started)
        self.last_done_ns = max(self.last_done_ns, finished)
        self.done += 1

    async def _negotiate(self, index: int, caller: tuple[User, BenchConn],
                         callee: tuple[User, BenchConn]) -> None:  # fmt: skip
        (caller_user, caller_conn), (callee_user, callee_conn) = caller, callee
        if self.population.target.has_api:
            ringing = callee_conn.expect("incoming")
            if self.start == "socket":
                call_id, sent, returned = await self._start_over_socket(
                    index, caller_conn, callee_user.name
                )
            else:
                call, sent, returned = await self.population.start_call(caller_user, callee_user)
                call_id = call["id"]
            self.post_ns.append(returned - sent)
            incoming = await ringing
            ring = incoming["_at"] - returned
            self.early_rings += ring < 0
            self.ring_ns.append(max(0, ring))
            await answer(callee_conn, caller_conn, call_id, incoming)
            accepted = time.perf_counter_ns()
            self.accept_ns.append(accepted - incoming["_at"])
            for mark, at in (
                ("posted", returned),
                ("rung", incoming["_at"]),
                ("accepted", accepted),
            ):
                self.last[mark] = max(self.last[mark], at)
        else:
            call_id, accepted = index + 1, time.perf_counter_ns()
        offer = callee_conn.expect("offer", call_id)
        caller_gets = [caller_conn.expect("answer", call_id)]
        caller_gets += [caller_conn.expect("candidate", call_id) for _ in range(CANDIDATES)]
        callee_gets = [callee_conn.expect("candidate", call_id) for _ in range(CANDIDATES)]
        await _send_all(caller_conn, [_negotiation("offer", call_id, callee_user.name)]
                        + [_negotiation("candidate", call_id, callee_user.name, i)
                           for i in range(CANDIDATES)])  # fmt: skip
        received = await offer
        if received.get("type") != "offer":
            raise RuntimeError(f"callee got {received} instead of the offer")
        await _send_all(callee_conn, [_negotiation("answer", call_id, caller_user.name)]
                        + [_negotiation("candidate", call_id, caller_user.name, i)
                           for i in range(CANDIDATES)])  # fmt: skip
        for message in await asyncio.gather(*caller_gets, *callee_gets):
            if message.get("type") not in ("answer", "candidate"):
                raise RuntimeError(f"negotiation of call {call_id} got {message}")
        self.negotiation_ns.append(time.perf_counter_ns() - accepted)
        self.set_up.append((call_id, caller_conn))

    async def _start_over_socket(
        self, index: int, caller_conn: BenchConn, callee_name: str
    ) -> tuple[int, int, int]:
        """A `call` message instead of POST /call/start: (call id, ns sent, ns acknowledged)."""
        sent = time.perf_counter_ns()
        reply = await caller_conn.request({"type": "call", "to": callee_name}, f"c{index}")
        returned = time.perf_counter_ns()
        if reply.get("type") != "ack" or reply.get("outcome") != "ringing":
            raise RuntimeError(f"call start {index} got {reply}")
        return reply["call_id"], sent, returned


async def run_setup(
    population: Population,
    *,
    calls: int,
    rate: float,
    timeout: float,
    connect_concurrency: int,
    progress: Progress,
    start: str = "http",
) -> dict[str, Any]:
    """Connect 2K users, then set up K calls at once (rate 0) or `rate` per second."""
    registered = [0]
    progress.start("users registered", 2 * calls, lambda: registered[0])
    try:
        users = await population.users(
            2 * calls, lambda: registered.__setitem__(0, registered[0] + 1)
        )
    finally:
        progress.stop()
    conns = [population.conn(u) for u in users]
    limit = asyncio.Semaphore(connect_concurrency)
    opened = [0]

    async def open_one(conn: BenchConn) -> None:
        async with limit:
            await conn.open(timeout=30)
            opened[0] += 1

    progress.start("connections", len(conns), lambda: opened[0])
    try:
        await asyncio.gather(*(open_one(c) for c in conns))
    finally:
        progress.stop()
    probe = probe_for(population.target.server_pid)
    run = SetupRun(population, timeout, start)
    before, web_before = probe.sample(), tree_cpu_seconds(population.target.web_pid)
    own_before = time.process_time()  # the tool shares the machine: say what it used too
    t0 = time.perf_counter_ns()
    step = int(1e9 / rate) if rate > 0 else 0
    progress.start("calls set up", calls, lambda: run.done + sum(run.failures.values()))
    try:
        await asyncio.gather(
            *(
                run.one(
                    i,
                    (users[2 * i], conns[2 * i]),
                    (users[2 * i + 1], conns[2 * i + 1]),
                    t0 + i * step,
                )
                for i in range(calls)
            )  # fmt: skip
        )
    finally:
        progress.stop()
    after, web_after = probe.sample(), tree_cpu_seconds(population.target.web_pid)
    own_cpu = time.process_time() - own_before
    hung_up = None
    if population.target.has_api:  # leave no call active behind: a running system may go on
        replies = await asyncio.gather(
            *(caller.request({"type": "hangup", "call_id": cid}, f"h{cid}", 30)
              for cid, caller in run.set_up), return_exceptions=True)  # fmt: skip
        hung_up = sum(isinstance(r, dict) and r.get("type") == "ack" for r in replies)
    await close_all(conns)
    return {
        "scenario": "setup",
        "target": population.target.name,
        "calls": calls,
        "mode": "rate" if rate > 0 else "at_once",
        "start": start if population.target.has_api else None,
        "rate_offered": rate or None,
        "completed": run.done,
        "failures": sum(run.failures.values()),
        "failure_kinds": dict(run.failures),
        "complete_all_s": round((run.last_done_ns - t0) / 1e9, 3) if run.done else None,
        # When the last call reached each stage, seconds after the first POST was sent.
        "stages_all_s": {k: round((v - t0) / 1e9, 3) if v else None for k, v in run.last.items()},
        "setup_ms": scaled(percentiles(run.setup_ns), 1e-6),
        "ring_ms": scaled(percentiles(run.ring_ns), 1e-6) if run.ring_ns else None,
        "rings_before_post_returned": run.early_rings if run.ring_ns else None,
        "post_ms": scaled(percentiles(run.post_ns), 1e-6) if run.post_ns else None,
        "accept_ms": scaled(percentiles(run.accept_ns), 1e-6) if run.accept_ns else None,
        "negotiation_ms": scaled(percentiles(run.negotiation_ns), 1e-6),
        "server_cpu_s": round(after.cpu_seconds - before.cpu_seconds, 3)
        if before and after
        else None,
        "server_rss_mb": round(after.rss_bytes / 2**20, 2) if after else None,
        "web_cpu_s": round(web_after - web_before, 3) if web_before is not None else None,
        "client_cpu_s": round(own_cpu, 3),
        "hung_up": hung_up,  # of the completed calls, ended again by their caller afterwards
    }
