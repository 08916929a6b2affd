"""The `meetings` scenario: upstream bitrate per participant, mesh against SFU, in one run.

For each meeting size, a mesh meeting (every participant offers to those already there,
through the daemon: `MediaPeer`) and an SFU meeting (each publishes once to Janus and
subscribes to the others: `SfuPeer`) are filled with aiortc participants; once media
flows, each participant's bytes sent over all its connections are counted over a window.
On a mesh that grows with n-1; through the SFU it stays one stream. With `--janus-pid`,
Janus's CPU over the window is reported per participant. Needs a ChimeCast with
CHIMECAST_JANUS_URLS (`--env`) and the `media` extra.

The figure must measure the topology, not the load generator, so participants are spread
over `--processes` worker processes (round robin), and they send *pre-encoded* media: a
VP8 + Opus WebM clip made once at the start (`make_clip`) and played with
`MediaPlayer(decode=False)`, which aiortc packetizes without an encoder (`Vp8Encoder.pack`).
A 12-person mesh is then 132 packetizers instead of 132 VP8 encoders; each participant's
clip is shared by its senders through a `MediaRelay`. Receivers still decode (as a
browser would), the same way on both paths.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fractions
import math
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from signaling.bench.population import Population, User

CLIP_SIZE, CLIP_FPS = (160, 120), 15
MEDIA_TIMEOUT = 120.0  # seconds for every participant's media to flow (a loaded machine)


def make_clip(directory: Path, seconds: int) -> Path:
    """A `seconds` long WebM (VP8 scrolling noise, 15 fps, 160x120; Opus tone) in
    `directory`. Long enough never to loop during a run: a looped clip's timestamps jump
    back, which receivers would drop."""
    import av

    path = directory / "participant.webm"
    out = av.open(str(path), "w")
    video = out.add_stream("libvpx", rate=CLIP_FPS,
                           options={"deadline": "realtime", "cpu-used": "8"})  # fmt: skip
    video.width, video.height = CLIP_SIZE
    video.pix_fmt, video.bit_rate, video.gop_size = "yuv420p", 120_000, CLIP_FPS
    audio = out.add_stream("libopus", rate=48000)
    audio.bit_rate, audio.layout = 32_000, "mono"
    width, height = CLIP_SIZE
    noise = random.Random(1).randbytes(width * height * 2)
    u, v = bytes([90]) * (width * height // 4), bytes([240]) * (width * height // 4)
    tone = array.array(
        "h", (int(3000 * math.sin(2 * math.pi * 400 * n / 48000)) for n in range(960))
    ).tobytes()
    sent_audio = 0
    for i in range(CLIP_FPS * seconds):
        frame = av.VideoFrame(width, height, "yuv420p")
        start = (i * width * 3) % (width * height)  # scrolls: motion, so real P-frames
        for plane, data in zip(frame.planes, (noise[start : start + width * height], u, v),
                               strict=True):  # fmt: skip
            plane.update(data)
        frame.pts, frame.time_base = i, fractions.Fraction(1, CLIP_FPS)
        for packet in video.encode(frame):
            out.mux(packet)
        # interleaved: the player sends packets in file order, paced by their times
        while sent_audio * 960 * CLIP_FPS < (i + 1) * 48000:
            sound = av.AudioFrame(format="s16", layout="mono", samples=960)
            sound.planes[0].update(tone)
            sound.sample_rate, sound.pts = 48000, sent_audio * 960
            sound.time_base = fractions.Fraction(1, 48000)
            for packet in audio.encode(sound):
                out.mux(packet)
            sent_audio += 1
    for stream in (video, audio):
        for packet in stream.encode():
            out.mux(packet)
    out.close()
    return path


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


# -- a worker process: some of the participants ------------------------------------------


def _live(track: Any) -> Any:
    """`track` (a buffered `MediaRelay` subscription) without a backlog: packets that
    piled up while its sender was starved of CPU (a loaded machine) are skipped up to the
    newest keyframe (video) or the newest packet (audio), so the sender does not catch up
    in a burst that would count as upstream bitrate."""
    from aiortc.mediastreams import MediaStreamTrack

    class Live(MediaStreamTrack):
        kind = track.kind

        async def recv(self) -> Any:
            packet = await track.recv()
            queue = getattr(track, "_queue", None)
            while queue is not None and queue.qsize() > CLIP_FPS // 3:
                newer = queue.get_nowait()
                if newer is None:
                    break
                if track.kind == "audio" or newer.is_keyframe:
                    packet = newer
            return packet

        def stop(self) -> None:
            super().stop()
            track.stop()

    return Live()


class _Agent:
    """The participants one worker process plays. Commands come over a pipe, one at a
    time, each answered: ("join", name) mesh: join and offer to those already there (later
    arrivals are answered as they come); ("sfu", credentials, feeds) publish and subscribe;
    ("media",) wait until media flows everywhere; ("measure", window) kbit/s sent per
    participant; ("close",)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from aiortc.contrib.media import MediaPlayer, MediaRelay

        self.spec = spec
        self.relay = MediaRelay()
        self.players = {name: MediaPlayer(spec["clip"], decode=False) for name, _ in spec["users"]}
        self.uploads: dict[str, list[Any]] = {name: [] for name, _ in spec["users"]}
        self.peers: list[Any] = []
        self.sfu_peers: list[Any] = []
        self.socks: dict[str, Any] = {}
        self.tasks: list[asyncio.Task] = []

    def tracks(self, name: str) -> list[Any]:
        player = self.players[name]
        return [
            _live(self.relay.subscribe(player.video)),
            _live(self.relay.subscribe(player.audio)),
        ]

    async def connect(self) -> None:
        from signaling.client.socket import SignalingClient

        for name, token in self.spec["users"]:
            self.socks[name] = SignalingClient(self.spec["signaling_url"], token)
            await self.socks[name].connect()
            self.tasks.append(asyncio.create_task(self._answer_arrivals(name)))

    def _peer(self, name: str, other: str) -> Any:
        from signaling.client.media import MediaPeer

        peer = MediaPeer(self.socks[name], None, other, meeting_id=self.spec["meeting_id"],
                         tracks=self.tracks(name))  # fmt: skip
        self.peers.append(peer)
        self.uploads[name].append(peer.pc)
        return peer

    async def _answer_arrivals(self, name: str) -> None:
        """Each later arrival offers to `name`: answer it (its offer waits in the buffer)."""
        while True:
            event = await self.socks[name].wait_for(
                "participant_joined", timeout=None, meeting_id=self.spec["meeting_id"]
            )
            if event.get("user") not in (None, name):
                await self._peer(name, event["user"]).answer()

    async def join(self, name: str) -> None:
        sock, meeting_id = self.socks[name], self.spec["meeting_id"]
        await sock.join_meeting(meeting_id, self.spec["invite"])
        joined = await sock.wait_for("meeting_joined", meeting_id=meeting_id, timeout=60)
        for other in joined["participants"]:
            if other != name:
                await self._peer(name, other).offer()

    async def sfu(self, credentials: dict[str, dict], feeds: dict[str, int]) -> None:
        from signaling.client.sfu import SfuPeer

        peers = {name: SfuPeer(credentials[name], tracks=self.tracks(name)) for name in credentials}
        self.sfu_peers = list(peers.values())
        await asyncio.gather(*(peer.publish() for peer in peers.values()))
        for name, peer in peers.items():
            self.uploads[name].append(peer.publisher)
            for other, feed in feeds.items():
                if other != name:
                    await peer.subscribe(feed)

    async def media(self, expected: int) -> None:
        async with asyncio.timeout(MEDIA_TIMEOUT):
            if self.sfu_peers:
                subs = [s for p in self.sfu_peers for s in p.subscriptions.values()]
                while any(s.received["video"] < 10 for s in subs):
                    await asyncio.sleep(0.2)
                return
            while any(len(pcs) < expected for pcs in self.uploads.values()):
                await asyncio.sleep(0.1)
            await asyncio.gather(*(p.wait_media(10, 10, timeout=MEDIA_TIMEOUT)
                                   for p in self.peers))  # fmt: skip

    async def measure(self, window: float) -> list[float]:
        names = list(self.uploads)
        before = [await _bytes_sent(self.uploads[n]) for n in names]
        started = time.monotonic()
        await asyncio.sleep(window)
        after = [await _bytes_sent(self.uploads[n]) for n in names]
        elapsed = time.monotonic() - started
        return [8 * (b - a) / elapsed / 1000 for a, b in zip(before, after, strict=True)]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        closing = [p.close() for p in self.peers + self.sfu_peers]
        closing += [s.close() for s in self.socks.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await asyncio.gather(*closing, return_exceptions=True)
        for player in self.players.values():  # ends its demuxing thread
            for track in (player.video, player.audio):
                track.stop()


async def _agent(conn, spec: dict[str, Any]) -> None:
    agent = _Agent(spec)
    await agent.connect()
    conn.send("ready")
    while True:
        command, *args = await asyncio.to_thread(conn.recv)
        try:
            result = await getattr(agent, command)(*args)
        except Exception as exc:  # reported to the parent, which fails the run
            conn.send(("error", f"{command}: {exc.__class__.__name__}: {exc}"))
            await agent.close()
            return
        conn.send(("ok", result))
        if command == "close":
            return


def _agent_main(conn, spec: dict[str, Any]) -> None:
    asyncio.run(_agent(conn, spec))


class _Workers:
    """`count` worker processes, each playing every count-th participant."""

    def __init__(self, count: int, users: list[User], spec: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited event loop or sockets
        self.owner: dict[str, int] = {}
        self.conns, self.processes = [], []
        for i in range(min(count, len(users))):
            mine = users[i::count]
            self.owner.update({u.name: i for u in mine})
            parent, child = context.Pipe()
            users_spec = [(u.name, u.token) for u in mine]
            process = context.Process(target=_agent_main, args=(child, {**spec, "users": users_spec}),
                                      daemon=True)  # fmt: skip
            process.start()
            self.conns.append(parent)
            self.processes.append(process)

    async def _recv(self, i: int, timeout: float = MEDIA_TIMEOUT + 60) -> Any:
        if not await asyncio.to_thread(self.conns[i].poll, timeout):
            raise TimeoutError(f"worker {i} did not answer")
        return self.conns[i].recv()

    async def started(self) -> None:
        for i in range(len(self.conns)):
            assert await self._recv(i) == "ready"

    async def ask(self, i: int, *command: Any) -> Any:
        self.conns[i].send(command)
        status, result = await self._recv(i)
        if status != "ok":
            raise RuntimeError(f"worker {i}: {result}")
        return result

    async def ask_all(self, *command: Any, each: list[tuple] | None = None) -> list[Any]:
        commands = each or [command] * len(self.conns)
        return await asyncio.gather(*(self.ask(i, *c) for i, c in enumerate(commands)))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.ask_all("close")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


async def _meeting(population: Population, users: list[User], media: str) -> tuple[int, str]:
    http = population.http
    assert http is not None
    body = {"media": media, "max_participants": len(users)}
    created = await http.call("POST", "/meetings", body, users[0].token)
    return created["meeting"]["id"], created["invite"]


async def _run_one(population: Population, users: list[User], media: str, window: float,
                   janus_pid: int | None, processes: int, clip: Path) -> dict:  # fmt: skip
    http = population.http
    assert http is not None
    meeting_id, invite = await _meeting(population, users, media)
    spec = {"signaling_url": population.target.signaling_url, "clip": str(clip),
            "meeting_id": meeting_id, "invite": invite}  # fmt: skip
    workers = _Workers(processes, users, spec)
    try:
        await workers.started()
        if media == "mesh":
            for user in users:  # one at a time: each newcomer offers to those already there
                await workers.ask(workers.owner[user.name], "join", user.name)
        else:
            joined = {
                u.name: await http.call(
                    "POST", f"/meetings/{meeting_id}/join", {"invite": invite}, u.token
                )  # fmt: skip
                for u in users
            }
            feeds = (await http.call("GET", f"/meetings/{meeting_id}", None,
                                     users[0].token))["sfu"]["feeds"]  # fmt: skip
            each = [("sfu", {n: joined[n]["meeting"]["sfu"] for n, w in workers.owner.items()
                             if w == i}, feeds) for i in range(len(workers.conns))]  # fmt: skip
            await workers.ask_all(each=each)
        await workers.ask_all("media", len(users) - 1)
        cpu0, started = _cpu_seconds(janus_pid), time.monotonic()
        kbps = [k for part in await workers.ask_all("measure", window) for k in part]
        elapsed, cpu1 = time.monotonic() - started, _cpu_seconds(janus_pid)
    finally:
        await workers.stop()
        if media == "sfu":
            with contextlib.suppress(Exception):
                await http.call("POST", f"/meetings/{meeting_id}/end", None, users[0].token)
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / elapsed / len(users)
    return {
        "upstream_kbps_median": round(statistics.median(kbps), 1),
        "upstream_kbps_min": round(min(kbps), 1),
        "upstream_kbps_max": round(max(kbps), 1),
        "janus_cpu_per_participant": None if cpu is None else round(cpu, 4),
        "processes": min(processes, len(users)),
        "load1": round(os.getloadavg()[0], 1),
    }


async def run_meetings(
    population: Population,
    *,
    sizes: list[int],
    window: float,
    janus_pid: int | None,
    processes: int = 3,
) -> list[dict[str, Any]]:
    """For each size: a mesh meeting and an SFU meeting, measured one after the other, with
    the participants spread over `processes` worker processes sending pre-encoded media.

    Not on loopback only (unlike `media`): Janus offers its host's non-loopback addresses,
    so the aiortc participants gather theirs too."""
    results = []
    with tempfile.TemporaryDirectory(prefix="chimecast-bench-") as directory:
        clip = await asyncio.to_thread(make_clip, Path(directory), 240)
        for n in sizes:
            users = await population.users(n)
            for media in ("mesh", "sfu"):
                figures = await _run_one(population, users, media, window, janus_pid,
                                         processes, clip)  # fmt: skip
                results.append({"scenario": "meetings", "target": population.target.name,
                                "media": media, "participants": n, **figures})  # fmt: skip
    return results
