"""The `relay` scenario: N call pairs exchange M offer- and candidate-sized messages each.

Every relayed message carries its send time (perf_counter_ns) inside the opaque part of
the payload: an `a=x-bench:<ns>` SDP line, or a trailing `x-bench:<ns>` token of the
candidate string. The receiver is the same process, so one-way latency is one clock read
minus another. The server's CPU per relayed message comes from /proc before and after.
"""

from __future__ import annotations

import array
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from signaling.bench.load_client import BenchConn, close_all
from signaling.bench.measure import (
    Progress,
    cpu_between,
    own_cpu_seconds,
    percentiles,
    probe_for,
    scaled,
)
from signaling.bench.population import Pair, Population, User

MARK = "x-bench:"
# Filler that makes an offer/answer frame about 600 bytes and a candidate about 150.
SDP_BODY = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Zx9q\r\na=ice-pwd:Vd1b6xQx8Ue0k5Bv7rXy2a0Z\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 7B:8F:2A:01:9C:4E:55:D1:3A:68:0F:B2:97:CE:41:12:"
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\na=setup:actpass\r\na=mid:0\r\n"
    "a=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
)
CANDIDATE_BODY = "candidate:1 1 UDP 2122260223 192.0.2.10 54400 typ host "


@dataclass
class Side:
    """One client of a pair: what it sends to its peer and what it received from it."""

    conn: BenchConn
    name: str
    peer_name: str
    call_id: int
    description: str  # "offer" for the caller, "answer" for the callee
    sent: int = 0
    delivered: int = 0  # of this side's messages, how many the peer received
    received: int = 0
    wrong_from: int = 0
    seq_gaps: int = 0
    last_seq: int | None = None
    peer: Side | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        prefix = self.conn.relay_prefix  # the target's dialect (load_client)
        sdp = orjson.dumps(SDP_BODY).decode()[1:-1]
        self._big = prefix(self.description, self.call_id, self.peer_name) + (
            f'"type":"{self.description}","sdp":"{sdp}a={MARK}'
        )
        self._big_tail = '\\r\\n"}}'
        self._small = prefix("candidate", self.call_id, self.peer_name) + (
            f'"sdpMid":"0","sdpMLineIndex":0,"candidate":"{CANDIDATE_BODY}{MARK}'
        )
        self._small_tail = '"}}'

    def render(self, index: int) -> str:
        """Message number `index`: even ones offer/answer-sized, odd ones candidate-sized."""
        now = time.perf_counter_ns()
        if index % 2 == 0:
            return f"{self._big}{now}{self._big_tail}"
        return f"{self._small}{now}{self._small_tail}"


class RelayRun:
    """One run: pairs connected and in calls, messages sent, latencies collected."""

    def __init__(self, messages: int, window: int) -> None:
        self.messages = messages
        self.window = window
        self.latencies = array.array("q")
        self.received = 0
        self.expected = 0
        self.all_received = asyncio.Event()

    def receiver(self, side: Side):
        def on_relay(message: dict[str, Any], arrived: int) -> None:
            payload = message.get("payload") or {}
            text = payload.get("sdp") or payload.get("candidate") or ""
            at = text.rfind(MARK)
            if at >= 0:
                self.latencies.append(arrived - int(text[at + len(MARK) :]))
            if message.get("from") != side.peer_name:
                side.wrong_from += 1
            seq = message.get("seq")  # PeerJS stamps none: nothing to check there
            if seq is not None and side.last_seq is not None and seq != side.last_seq + 1:
                side.seq_gaps += 1
            side.last_seq = seq
            side.received += 1
            sender = side.peer
            sender.delivered += 1
            if sender.sent - sender.delivered < self.window:
                sender.wake.set()
            self.received += 1
            if self.received >= self.expected:
                self.all_received.set()

        return on_relay

    async def closed_loop(self, side: Side, deadline: float) -> None:
        while side.sent < self.messages and time.monotonic() < deadline:
            if side.sent - side.delivered >= self.window:
                side.wake.clear()
                try:
                    await asyncio.wait_for(side.wake.wait(), max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    return
                continue
            await side.conn.send_text(side.render(side.sent))
            side.sent += 1

    async def open_loop(self, sides: list[Side], rate: float, deadline: float) -> float:
        """Send round-robin at `rate` messages/s in total; returns the worst lag behind schedule."""
        total = len(sides) * self.messages
        started = time.monotonic()
        worst = 0.0
        for index in range(total):
            due = started + index / rate
            now = time.monotonic()
            if now > deadline:
                break
            if due > now:
                await asyncio.sleep(due - now)
            else:
                worst = max(worst, now - due)
            side = sides[index % len(sides)]
            await side.conn.send_text(side.render(side.sent))
            side.sent += 1
        return worst


async def connect_pairs(
    population: Population, users: list[User], progress: Progress, concurrency: int = 32
) -> list[Pair]:
    """Pair users[0]-users[1], users[2]-users[3]...: connected and in active calls."""
    limit = asyncio.Semaphore(concurrency)
    made: list[Pair] = []

    async def one(caller: User, callee: User) -> Pair:
        async with limit:
            pair = await population.make_pair(caller, callee)
            made.append(pair)
            return pair

    progress.start("calls set up", len(users) // 2, lambda: len(made))
    try:
        return list(
            await asyncio.gather(
                *(one(users[i], users[i + 1]) for i in range(0, len(users) - 1, 2))
            )
        )
    finally:
        progress.stop()


def sides_of(pairs: list[Pair]) -> list[Side]:
    sides: list[Side] = []
    for pair in pairs:
        a = Side(pair.caller_conn, pair.caller.name, pair.callee.name, pair.call_id, "offer")
        b = Side(pair.callee_conn, pair.callee.name, pair.caller.name, pair.call_id, "answer")
        a.peer, b.peer = b, a
        sides += [a, b]
    return sides


@dataclass
class Phase:
    """What the relay phase measured: wall time, CPU of both ends, worst sender lag."""

    elapsed: float
    server_cpu: float | None
    client_cpu: float
    lag: float


async def relay_phase(
    run: RelayRun, sides: list[Side], probe, rate: float, timeout: float, progress: Progress
) -> Phase:
    """Send every side's messages (open or closed loop) and wait for them, within `timeout`."""
    before, client_before = probe.sample(), own_cpu_seconds()
    started = time.monotonic()
    deadline = started + timeout
    progress.start("messages relayed", run.expected, lambda: run.received)
    lag = 0.0
    try:
        if rate > 0:
            lag = await run.open_loop(sides, rate, deadline)
        else:
            await asyncio.gather(*(run.closed_loop(side, deadline) for side in sides))
        try:
            await asyncio.wait_for(run.all_received.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass  # what did not arrive is counted as lost
    finally:
        progress.stop()
    elapsed = time.monotonic() - started
    after, client_after = probe.sample(), own_cpu_seconds()
    return Phase(elapsed, cpu_between(before, after), client_after - client_before, lag)


async def run_relay(
    population: Population,
    users: list[User],
    *,
    messages: int,
    rate: float,
    window: int,
    timeout: float,
    progress: Progress,
) -> dict[str, Any]:
    """One relay run on `users` (paired in order); returns the figures as a flat dict."""
    probe = probe_for(population.target.server_pid)
    baseline = probe.sample()
    started_setup = time.monotonic()
    pairs = await connect_pairs(population, users, progress)
    setup_seconds = time.monotonic() - started_setup
    sides = sides_of(pairs)
    run = RelayRun(messages, window)
    run.expected = len(sides) * messages
    for side in sides:
        side.conn.on_relay = run.receiver(side)
    phase = await relay_phase(run, sides, probe, rate, timeout, progress)
    loaded = probe.sample()
    await asyncio.gather(*(population.hang_up(p) for p in pairs), return_exceptions=True)
    await close_all([c for p in pairs for c in (p.caller_conn, p.callee_conn)])
    await asyncio.sleep(0.5)  # let the server drop the closed connections before sampling
    closed = probe.sample()
    return {
        "scenario": "relay",
        "target": population.target.name,
        "pairs": len(pairs),
        "messages_per_client": messages,
        "mode": "open" if rate > 0 else "closed",
        "rate_offered": rate or None,
        "window": None if rate > 0 else window,
        "setup_s": round(setup_seconds, 3),
        **_delivery(run, sides, phase, rate),
        "server_rss_mb_before": _mb(baseline),
        "server_rss_mb_loaded": _mb(loaded),
        "server_rss_mb_after_close": _mb(closed),
    }


def _delivery(run: RelayRun, sides: list[Side], phase: Phase, rate: float) -> dict[str, Any]:
    sent, received, elapsed, cpu = (
        sum(s.sent for s in sides),
        run.received,
        phase.elapsed,
        phase.server_cpu,
    )
    return {
        "sent": sent,
        "relayed": received,
        "lost": sent - received,
        "wrong_from": sum(side.wrong_from for side in sides),
        "seq_gaps": sum(side.seq_gaps for side in sides),
        "errors": dict(sum((side.conn.errors for side in sides), Counter())),
        "duration_s": round(elapsed, 3),
        "msgs_per_s": round(received / elapsed, 1) if elapsed else None,
        "latency_ms": scaled(percentiles(run.latencies), 1e-6),
        "send_lag_max_ms": round(phase.lag * 1000, 2) if rate > 0 else None,
        "server_cpu_s": round(cpu, 3) if cpu is not None else None,
        "server_cpu_us_per_msg": round(cpu / received * 1e6, 1)
        if cpu is not None and received
        else None,
        "server_cpu_percent": round(cpu / elapsed * 100, 1)
        if cpu is not None and elapsed
        else None,
        "client_cpu_us_per_msg": round(phase.client_cpu / received * 1e6, 1) if received else None,
    }


def _mb(sample) -> float | None:
    return round(sample.rss_bytes / 2**20, 2) if sample is not None else None
