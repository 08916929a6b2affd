"""The `media` scenario (small): a few aiortc call pairs negotiate through the full stack.

Each pair rings and answers like the other scenarios, then an aiortc offerer and answerer
(`signaling.client.media.MediaPeer`, host candidates on 127.0.0.1 only) negotiate through the
daemon. Reports offer-to-connected (both sides ICE+DTLS connected) and first-frame (both
sides decoded a video frame) times, measured from the moment the offer is created.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from signaling.bench.measure import Progress, percentiles, probe_for, scaled
from signaling.bench.population import Population, User
from signaling.client.socket import SignalingClient


async def _first_frames(*peers, poll: float = 0.005) -> None:
    while any(peer.received["video"] == 0 for peer in peers):
        await asyncio.sleep(poll)


async def _pair(
    population: Population, caller: User, callee: User, timeout: float
) -> tuple[float, float]:
    from signaling.client.media import MediaPeer

    url = population.target.signaling_url
    a, b = SignalingClient(url, caller.token), SignalingClient(url, callee.token)
    await asyncio.gather(a.connect(), b.connect())
    offerer = answerer = None
    try:
        if population.target.has_api:
            call, *_ = await population.start_call(caller, callee)
            call_id = call["id"]
            await b.wait_for("incoming", call_id=call_id, timeout=timeout)
            ack = await b.accept(call_id)
            if ack["type"] != "ack":
                raise RuntimeError(f"accept refused: {ack}")
            await a.wait_for("accepted", call_id=call_id, timeout=timeout)
        else:
            call_id = population.fake_call_id()
        offerer = MediaPeer(a, call_id, callee.name, ice_servers=[])
        answerer = MediaPeer(b, call_id, caller.name, ice_servers=[], colour=(20, 20, 220))
        await answerer.answer()
        started = time.monotonic()
        await offerer.offer()
        async with asyncio.timeout(timeout):
            await asyncio.gather(offerer.connected.wait(), answerer.connected.wait())
            connected = time.monotonic() - started
            await _first_frames(offerer, answerer)
            first_frame = time.monotonic() - started
        if population.target.has_api:
            await a.hangup(call_id)
        return connected, first_frame
    finally:
        for peer in (offerer, answerer):
            if peer is not None:
                await peer.close()
        await asyncio.gather(a.close(), b.close(), return_exceptions=True)


async def run_media(
    population: Population, *, pairs: int, timeout: float, progress: Progress
) -> dict[str, Any]:
    """`pairs` aiortc calls at once through the target; figures in milliseconds."""
    from signaling.client.media import use_loopback_only

    use_loopback_only()
    users = await population.users(2 * pairs)
    probe = probe_for(population.target.server_pid)
    before = probe.sample()
    connected: list[float] = []
    first_frames: list[float] = []
    failures: Counter[str] = Counter()

    async def one(i: int) -> None:
        try:
            c, f = await _pair(population, users[2 * i], users[2 * i + 1], timeout)
        except Exception as exc:  # a failed pair is a figure, not a crash
            failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        else:
            connected.append(c)
            first_frames.append(f)

    progress.start("media pairs", pairs, lambda: len(connected) + sum(failures.values()))
    try:
        await asyncio.gather(*(one(i) for i in range(pairs)))
    finally:
        progress.stop()
    after = probe.sample()
    return {
        "scenario": "media",
        "target": population.target.name,
        "pairs": pairs,
        "connected": len(connected),
        "failures": sum(failures.values()),
        "failure_kinds": dict(failures),
        "offer_to_connected_ms": scaled(percentiles(connected), 1000, 1),
        "offer_to_first_frame_ms": scaled(percentiles(first_frames), 1000, 1),
        "server_cpu_s": round(after.cpu_seconds - before.cpu_seconds, 3)
        if before and after
        else None,
    }
