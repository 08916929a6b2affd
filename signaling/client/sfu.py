"""An aiortc participant of an SFU meeting: publishes one stream to the meeting's Janus
VideoRoom and subscribes to the other participants' feeds there.

It joins with the credential ChimeCast gives an admitted participant (`sfu` in the
meeting view: server, room, token, feed, feeds). Like `MediaPeer` it sends a solid
colour and a tone, so a receiver can tell whose camera it sees. Janus calls are blocking
HTTP requests, run in a thread. Needs the `media` extra (aiortc).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from app.janus.client import JanusError, JanusSession
from signaling.client.media import ColourVideoTrack, Receiver, ToneAudioTrack

NO_SUCH_FEED = 428


class Subscription(Receiver):
    """One remote feed received over its own handle and peer connection."""

    def __init__(self, feed: int) -> None:
        super().__init__(RTCPeerConnection(RTCConfiguration(iceServers=[])))
        self.feed = feed


class SfuPeer:
    """A participant in a Janus VideoRoom, from ChimeCast's `sfu` credential."""

    def __init__(
        self,
        sfu: dict[str, Any],
        colour: tuple[int, int, int] = (200, 30, 30),
        size: tuple[int, int] = (320, 240),
        tracks: Sequence[MediaStreamTrack] = (),
    ) -> None:
        """`tracks` replace the colour and tone (e.g. pre-encoded media)."""
        self.sfu, self.colour, self.size, self.tracks = sfu, colour, size, tracks
        self.session: JanusSession | None = None
        self.private_id: int | None = None
        self.publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.subscriptions: dict[int, Subscription] = {}
        self._keepalive: asyncio.Task | None = None

    async def _keep_alive(self, every: float = 10.0) -> None:
        """A keepalive now and then: a long wait between requests must not end the session."""
        while self.session is not None:
            await asyncio.sleep(every)
            with contextlib.suppress(JanusError):
                await asyncio.to_thread(self.session.keepalive)

    async def _request(self, handle: int, body: dict[str, Any], jsep: dict | None = None) -> dict:
        assert self.session is not None
        return await asyncio.to_thread(self.session.request, handle, body, jsep)

    async def publish(self) -> None:
        """Join as publisher under the assigned feed id and send colour + tone."""
        self.session = await asyncio.to_thread(JanusSession, self.sfu["server"], self.sfu["token"])
        self._keepalive = asyncio.create_task(self._keep_alive())
        handle = await asyncio.to_thread(self.session.attach)
        joined = await self._request(
            handle,
            {"request": "join", "ptype": "publisher", "room": self.sfu["room"],
             "id": self.sfu["feed"], "token": self.sfu["token"]},
        )  # fmt: skip
        self.private_id = joined["private_id"]
        for track in self.tracks or (ColourVideoTrack(self.colour, self.size), ToneAudioTrack()):
            self.publisher.addTrack(track)
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        offer = {"type": "offer", "sdp": self.publisher.localDescription.sdp}
        answer = await self._request(handle, {"request": "publish"}, offer)
        await self.publisher.setRemoteDescription(
            RTCSessionDescription(answer["jsep"]["sdp"], answer["jsep"]["type"])
        )
        async with asyncio.timeout(15):
            while self.publisher.connectionState != "connected":
                await asyncio.sleep(0.05)

    async def subscribe(self, feed: int, private_id: int | None = None) -> Subscription:
        """Receive `feed` (sending our publisher's private id, as the room requires)."""
        assert self.session is not None
        handle = await asyncio.to_thread(self.session.attach)
        body: dict[str, Any] = {
            "request": "join", "ptype": "subscriber", "room": self.sfu["room"],
            "streams": [{"feed": feed}], "token": self.sfu["token"],
        }  # fmt: skip
        pvt = self.private_id if private_id is None else private_id
        if pvt is not None:
            body["private_id"] = pvt
        for attempt in range(40):
            try:
                attached = await self._request(handle, body)
                break
            except JanusError as exc:
                # 428 no such feed: it is joined but its media is not up yet (webrtcup).
                if exc.code != NO_SUCH_FEED or attempt == 39:
                    raise
                await asyncio.sleep(0.1)
        subscription = Subscription(feed)
        self.subscriptions[feed] = subscription
        await subscription.pc.setRemoteDescription(
            RTCSessionDescription(attached["jsep"]["sdp"], attached["jsep"]["type"])
        )
        await subscription.pc.setLocalDescription(await subscription.pc.createAnswer())
        answer = {"type": "answer", "sdp": subscription.pc.localDescription.sdp}
        await self._request(handle, {"request": "start"}, answer)
        return subscription

    async def close(self) -> None:
        """Close every connection and the Janus session (call it in `finally`)."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
        for subscription in self.subscriptions.values():
            await subscription.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.publisher.close(), 5)
        if self.session is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.session.destroy)
