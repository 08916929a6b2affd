"""An aiortc peer that negotiates through a `SignalingClient` and counts the media it gets.

The tests, the probe and the load tool use it to prove that two clients really set up a
peer-to-peer connection through ChimeCast. It sends a solid-colour video track (so a
receiver can tell whose camera it sees) and a tone, and counts decoded frames per kind.

aiortc puts all its candidates in the SDP. With `trickle=True` the peer strips them from
the SDP and sends them as separate `candidate` messages, as a browser does, ending with a
`null` candidate. Needs the `media` extra (aiortc).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aioice.ice
import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    VideoStreamTrack,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from signaling.client.socket import SignalingClient

log = logging.getLogger(__name__)

NEGOTIATION_TYPES = ("offer", "answer", "candidate")


# aioice's own choice of host addresses (every interface but loopback), kept so that a test
# that needs it back after `use_loopback_only()` can have it (a peer of Janus, which gathers
# on the host's interfaces and never on loopback).
HOST_ADDRESSES = aioice.ice.get_host_addresses


def use_loopback_only() -> None:
    """Make aioice gather host candidates on 127.0.0.1 only (tests and local probes).

    aioice skips loopback addresses, so on a loopback-only host ICE never starts, and on
    any host a local test would otherwise send media over real interfaces.
    """
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.169 * r - 0.331 * g + 0.5 * b + 128
    v = 0.5 * r - 0.419 * g - 0.081 * b + 128
    return tuple(max(0, min(255, round(c))) for c in (y, u, v))  # type: ignore[return-value]


class ColourVideoTrack(VideoStreamTrack):
    """A camera that shows one solid colour (320x240 unless told otherwise)."""

    def __init__(
        self, rgb: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (320, 240)
    ) -> None:
        super().__init__()
        y, u, v = rgb_to_yuv(rgb)
        (w, h), self.size = size, size
        chroma = (w // 2) * (h // 2)
        self._planes = (bytes([y]) * w * h, bytes([u]) * chroma, bytes([v]) * chroma)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(*self.size, "yuv420p")
        for plane, data in zip(frame.planes, self._planes, strict=True):
            plane.update(data)
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneAudioTrack(AudioStreamTrack):
    """A 440 Hz tone in 20 ms mono frames at 48 kHz."""

    def __init__(self) -> None:
        super().__init__()
        self._sample = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        samples = 960
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._sample / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        values = (
            int(8000 * math.sin(2 * math.pi * 440 * (self._sample + i) / 48000))
            for i in range(samples)
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(b"".join(v.to_bytes(2, "little", signed=True) for v in values))
        frame.pts, frame.sample_rate = self._sample, 48000
        frame.time_base = fractions.Fraction(1, 48000)
        self._sample += samples
        return frame


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """Remove `a=candidate` lines from an SDP; return it and the RTCIceCandidateInit list."""
    kept, candidates, mid, index = [], [], None, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index, mid = index + 1, None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


def centre_colour(frame: av.VideoFrame | None) -> tuple[int, int, int] | None:
    """(Y, U, V) at the centre of a video frame (None without one)."""
    if frame is None:
        return None
    yuv = frame.reformat(format="yuv420p")
    centre = []
    for plane, (w, h) in zip(
        yuv.planes,
        ((frame.width, frame.height),) + ((frame.width // 2, frame.height // 2),) * 2,
        strict=True,
    ):
        data = bytes(plane)
        row = plane.line_size * (h // 2)
        centre.append(data[row + w // 2])
    return tuple(centre)  # type: ignore[return-value]


class Receiver:
    """A peer connection whose incoming tracks are read and counted: `received` frames per
    kind and the last video frame (for `remote_colour`). `close()` stops it all."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.received = {"video": 0, "audio": 0}
        self.last_video_frame: av.VideoFrame | None = None
        self._tasks: list[asyncio.Task] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                self.received[track.kind] += 1
                if track.kind == "video":
                    self.last_video_frame = frame

    def remote_colour(self) -> tuple[int, int, int] | None:
        """Average (Y, U, V) of the centre of the last received video frame."""
        return centre_colour(self.last_video_frame)

    async def close(self) -> None:
        """Close the connection and stop every task (call it in `finally`)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.pc.close(), 5)


class MediaPeer(Receiver):
    """One side of a call's media. Use `offer()` on the caller, `answer()` on the callee."""

    def __init__(
        self,
        signaling: SignalingClient,
        call_id: int | None,
        remote: str,
        ice_servers: Iterable[dict[str, Any]] = (),
        relay_only: bool = False,
        colour: tuple[int, int, int] = (200, 30, 30),
        trickle: bool = False,
        meeting_id: int | None = None,
        size: tuple[int, int] = (320, 240),
        tracks: Sequence[MediaStreamTrack] = (),
    ) -> None:
        """`call_id` for a call, or `meeting_id` (with call_id None) for one pair of a
        meeting; `remote` is the other side's username. `tracks` replace the colour and
        tone (e.g. pre-encoded media, which costs no encoder)."""
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ]
        policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
        super().__init__(
            RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
        )
        self.signaling, self.call_id, self.remote, self.trickle = (
            signaling,
            call_id,
            remote,
            trickle,
        )
        self.scope = {"call_id": call_id} if meeting_id is None else {"meeting_id": meeting_id}
        self.states: list[str] = [self.pc.connectionState]
        self.connected = asyncio.Event()
        self.remote_candidates = 0
        self._pending: list[Any] = []
        for track in tracks or (ColourVideoTrack(colour, size), ToneAudioTrack()):
            self.pc.addTrack(track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        self.states.append(self.pc.connectionState)
        if self.pc.connectionState == "connected":
            self.connected.set()

    async def _send_description(self) -> None:
        description = self.pc.localDescription
        sdp, candidates = (
            split_candidates(description.sdp) if self.trickle else (description.sdp, [])
        )
        await self._relay(description.type, {"type": description.type, "sdp": sdp})
        for candidate in candidates:
            await self._relay("candidate", candidate)
        if self.trickle:
            await self._relay("candidate", None)

    async def _relay(self, kind: str, payload: Any) -> None:
        await self.signaling.send(
            {"type": kind, **self.scope, "to": self.remote, "payload": payload}
        )

    async def _add_candidate(self, init: dict[str, Any] | None) -> None:
        if init is None:
            return  # end-of-candidates: aiortc needs nothing
        candidate = candidate_from_sdp(init["candidate"].split(":", 1)[1])
        candidate.sdpMid, candidate.sdpMLineIndex = init.get("sdpMid"), init.get("sdpMLineIndex")
        self.remote_candidates += 1
        if self.pc.remoteDescription is None:
            self._pending.append(candidate)  # arrived before the description: hold it
        else:
            await self.pc.addIceCandidate(candidate)

    async def _on_negotiation(self, message: dict[str, Any]) -> None:
        kind, payload = message["type"], message.get("payload")
        if kind == "candidate":
            await self._add_candidate(payload)
            return
        await self.pc.setRemoteDescription(RTCSessionDescription(payload["sdp"], payload["type"]))
        for candidate in self._pending:
            await self.pc.addIceCandidate(candidate)
        self._pending.clear()
        if kind == "offer":
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self._send_description()

    async def _pump(self) -> None:
        while True:
            message = await self.signaling.wait_for(
                NEGOTIATION_TYPES, timeout=None, **self.scope, **{"from": self.remote}
            )
            try:
                await self._on_negotiation(message)
            except (ValueError, KeyError, TypeError) as exc:  # a bad SDP must not kill the peer
                log.warning("%s: ignoring bad %s: %s", self.scope, message.get("type"), exc)

    def _start_pump(self) -> None:
        if not any(t.get_name() == "pump" for t in self._tasks):
            self._tasks.append(asyncio.create_task(self._pump(), name="pump"))

    async def offer(self) -> None:
        """Caller: send an offer (again, for renegotiation) and handle what comes back."""
        self._start_pump()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._send_description()

    async def answer(self) -> None:
        """Callee: answer the offers that arrive for this call."""
        self._start_pump()

    async def wait_connected(self, timeout: float = 15) -> float:
        """Wait for ICE+DTLS `connected`; returns seconds waited."""
        started = time.monotonic()
        await asyncio.wait_for(self.connected.wait(), timeout)
        return time.monotonic() - started

    async def wait_media(
        self, video: int = 10, audio: int = 10, timeout: float = 15
    ) -> dict[str, int]:
        """Wait until at least `video` and `audio` frames were received; returns the counts."""
        async with asyncio.timeout(timeout):
            while self.received["video"] < video or self.received["audio"] < audio:
                await asyncio.sleep(0.05)
        return dict(self.received)
