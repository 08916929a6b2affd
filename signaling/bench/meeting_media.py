"""The `meetings` scenario: upstream bitrate per participant, mesh against SFU, in one run.

For each meeting size, a mesh meeting (every participant offers to those already there,
through the daemon: `MediaPeer`) and an SFU meeting (each publishes once to Janus and
subscribes to the others: `SfuPeer`) are filled with aiortc participants sending a solid
colour and a tone; once media flows, each participant's bytes sent over all its
connections are counted over a window. On a mesh that grows with n-1; through the SFU it
stays one stream. With `--janus-pid`, Janus's CPU over the window is reported per
participant. Needs a ChimeCast with CHIMECAST_JANUS_URLS (`--env`) and the `media` extra.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from signaling.bench.population import Population, User
from signaling.client.socket import SignalingClient

SIZE = (64, 48)  # many encoders in one process: keep each cheap (same for both paths)


async def _bytes_sent(pcs) -> int:
    total = 0
    for pc in pcs:
        for stats in (await pc.getStats()).values():
            if stats.type == "outbound-rtp":
                total += stats.bytesSent
    return total


def _cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(uploads: list[list[Any]], window: float, janus_pid: int | None) -> dict:
    """kbit/s sent per participant (median, min, max) and Janus CPU per participant."""
    before = [await _bytes_sent(pcs) for pcs in uploads]
    cpu0, started = _cpu_seconds(janus_pid), time.monotonic()
    await asyncio.sleep(window)
    after = [await _bytes_sent(pcs) for pcs in uploads]
    elapsed, cpu1 = time.monotonic() - started, _cpu_seconds(janus_pid)
    kbps = [8 * (b - a) / elapsed / 1000 for a, b in zip(before, after, strict=True)]
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / elapsed / len(uploads)
    return {
        "upstream_kbps_median": round(statistics.median(kbps), 1),
        "upstream_kbps_min": round(min(kbps), 1),
        "upstream_kbps_max": round(max(kbps), 1),
        "janus_cpu_per_participant": None if cpu is None else round(cpu, 4),
    }


async def _mesh(population: Population, users: list[User], window: float) -> dict:
    from signaling.client.media import MediaPeer

    http, url, host = population.http, population.target.signaling_url, users[0]
    assert http is not None
    body = {"media": "mesh", "max_participants": len(users)}
    created = await http.call("POST", "/meetings", body, host.token)
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    socks = {u.name: SignalingClient(url, u.token) for u in users}
    peers: dict[tuple[str, str], MediaPeer] = {}
    try:
        for sock in socks.values():
            await sock.connect()
        for user in users:  # newcomers offer to those already there (PROTOCOL.md)
            await socks[user.name].join_meeting(meeting_id, invite)
            joined = await socks[user.name].wait_for("meeting_joined", meeting_id=meeting_id)
            for other in joined["participants"]:
                await socks[other].wait_for("participant_joined", meeting_id=meeting_id,
                                            user=user.name)  # fmt: skip
                peers[(other, user.name)] = MediaPeer(
                    socks[other], None, user.name, meeting_id=meeting_id, size=SIZE
                )
                await peers[(other, user.name)].answer()
            for other in joined["participants"]:
                peers[(user.name, other)] = MediaPeer(
                    socks[user.name], None, other, meeting_id=meeting_id, size=SIZE
                )
                await peers[(user.name, other)].offer()
        await asyncio.gather(*(p.wait_media(10, 10, timeout=60) for p in peers.values()))
        uploads = [[p.pc for (me, _), p in peers.items() if me == u.name] for u in users]
        return await _measure(uploads, window, None)
    finally:
        await asyncio.gather(*(p.close() for p in peers.values()))
        await asyncio.gather(*(s.close() for s in socks.values()), return_exceptions=True)


async def _sfu(population: Population, users: list[User], window: float, janus_pid) -> dict:
    from signaling.client.sfu import SfuPeer

    http, host = population.http, users[0]
    assert http is not None
    body = {"media": "sfu", "max_participants": len(users)}
    created = await http.call("POST", "/meetings", body, host.token)
    meeting_id, invite = created["meeting"]["id"], created["invite"]
    joined = [
        await http.call("POST", f"/meetings/{meeting_id}/join", {"invite": invite}, u.token)
        for u in users
    ]
    feeds = (await http.call("GET", f"/meetings/{meeting_id}", None, host.token))["sfu"]["feeds"]
    peers = [SfuPeer(j["meeting"]["sfu"], size=SIZE) for j in joined]
    try:
        await asyncio.gather(*(peer.publish() for peer in peers))
        for user, peer in zip(users, peers, strict=True):
            for name, feed in feeds.items():
                if name != user.name:
                    await peer.subscribe(feed)
        async with asyncio.timeout(60):
            while any(s.received["video"] < 10 for p in peers for s in p.subscriptions.values()):
                await asyncio.sleep(0.1)
        return await _measure([[p.publisher] for p in peers], window, janus_pid)
    finally:
        await asyncio.gather(*(p.close() for p in peers))
        await http.call("POST", f"/meetings/{meeting_id}/end", None, host.token)


async def run_meetings(
    population: Population, *, sizes: list[int], window: float, janus_pid: int | None
) -> list[dict[str, Any]]:
    """For each size: a mesh meeting and an SFU meeting, measured one after the other.

    Not on loopback only (unlike `media`): Janus offers its host's non-loopback addresses,
    so the aiortc participants gather theirs too."""
    results = []
    for n in sizes:
        users = await population.users(n)
        for media, run in (("mesh", _mesh), ("sfu", _sfu)):
            args = (population, users, window) + ((janus_pid,) if media == "sfu" else ())
            figures = await run(*args)
            results.append({"scenario": "meetings", "target": population.target.name,
                            "media": media, "participants": n, **figures})  # fmt: skip
    return results
