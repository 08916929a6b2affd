"""A Python client for ChimeCast's signaling WebSocket (asyncio); the HTTP API client is
signaling.client.api.

Used by the tests, the load tool and the monitoring probe, and meant for anyone writing a
bot. It speaks only the documented HTTP API and PROTOCOL.md, like any other client.

    api = ApiClient("http://127.0.0.1:8000")
    api.register("alice", "a long passphrase")
    api.login("alice", "a long passphrase")
    async with SignalingClient("ws://127.0.0.1:8001/ws", api.token) as sig:
        call = api.start_call("bob")
        accepted = await sig.wait_for("accepted", call_id=call["id"])

Media (aiortc) lives in `signaling.client.media`, so this module needs only `websockets`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import ssl
import time
from collections import deque
from typing import Any

import websockets

TRY_AGAIN_LATER = 1013
FATAL_CLOSE_CODES = frozenset({4002, 4003})  # the token is no good: retrying is pointless
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 10.0
_RETRY_AFTER = re.compile(r"retry after (\d+(?:\.\d+)?) s")


def retry_after(code: int | None, reason: str) -> float | None:
    """The server's retry hint in seconds: a 1013 close's reason `... retry after 2.5 s`."""
    found = _RETRY_AFTER.search(reason or "") if code == TRY_AGAIN_LATER else None
    return float(found.group(1)) if found else None


class SignalingClosed(ConnectionError):
    """The server closed the WebSocket; `code` is the close code from PROTOCOL.md and
    `retry_after` the server's hint (seconds) when it asked to come back later (1013)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"signaling closed: {code} {reason}".strip())
        self.code = code
        self.reason = reason
        self.retry_after = retry_after(code, reason)


class SignalingClient:
    """One authenticated signaling connection.

    Incoming messages are buffered; `wait_for()` takes the first one matching a type (and
    call), leaving the others for later calls, so a test can wait for events in any order.
    """

    def __init__(
        self,
        url: str,
        token: str,
        origin: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.url = url
        self.token = token
        self.origin = origin
        self.welcome: dict[str, Any] = {}
        self._ws: Any = None
        self._buffer: deque[dict[str, Any]] = deque()
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self.closed: SignalingClosed | None = None

    async def connect(self, timeout: float = 10) -> dict[str, Any]:
        """Open the socket, send `hello`, and return the `welcome` message."""
        headers = {"Origin": self.origin} if self.origin else None
        self._ws = await asyncio.wait_for(
            websockets.connect(
                self.url,
                origin=headers and headers["Origin"],
                max_size=2**20,
                **({"ssl": self.ssl_context} if self.ssl_context is not None else {}),
            ),
            timeout,
        )
        self._reader = asyncio.create_task(self._read_loop())
        await self.send({"type": "hello", "token": self.token})
        self.welcome = await self.wait_for("welcome", timeout=timeout)
        return self.welcome

    async def connect_retrying(
        self, give_up_after: float = 60, timeout: float = 10, on_retry: Any = None
    ) -> dict[str, Any]:
        """`connect()` until welcomed, as PROTOCOL.md's "Reconnecting" asks: after 1013 wait
        the server's hint, after other failures a jittered backoff (0.5 s doubling to 10 s);
        4002/4003 and the last failure after `give_up_after` seconds are raised.
        `on_retry(exc, delay)`, if given, hears of every failure that is retried."""
        deadline = time.monotonic() + give_up_after
        attempt = 0
        while True:
            try:
                return await self.connect(timeout=timeout)
            except (SignalingClosed, OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                if isinstance(exc, SignalingClosed) and exc.code in FATAL_CLOSE_CODES:
                    raise
                hint = exc.retry_after if isinstance(exc, SignalingClosed) else None
                delay = hint if hint is not None else _backoff(attempt)
                attempt += 1
                if time.monotonic() + delay >= deadline:
                    raise
                if on_retry is not None:
                    on_retry(exc, delay)
                await self.close()
                self._reset()
                await asyncio.sleep(delay)

    def _reset(self) -> None:
        self._ws, self._reader, self.closed = None, None, None
        self._buffer.clear()

    async def __aenter__(self) -> SignalingClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def _read_loop(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                async with self._arrived:
                    self._buffer.append(message)
                    self._arrived.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = SignalingClosed(self.close_code, self._ws.close_reason or "")
            async with self._arrived:
                self._arrived.notify_all()

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code if self._ws is not None else None

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def request(self, message: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Send with a fresh `id` and return the reply carrying it as `ref` (ack/error/pong)."""
        message = {**message, "id": f"r{next(self._ids)}"}
        await self.send(message)
        return await self.wait_for(None, ref=message["id"], timeout=timeout)

    def _take(self, types: tuple[str, ...] | None, where: dict[str, Any]) -> dict | None:
        for message in self._buffer:
            if types is not None and message.get("type") not in types:
                continue
            if any(message.get(key) != value for key, value in where.items()):
                continue
            self._buffer.remove(message)
            return message
        return None

    async def wait_for(
        self,
        type_: str | tuple[str, ...] | None,
        call_id: int | None = None,
        ref: Any = None,
        timeout: float | None = 10,
        **where: Any,
    ) -> dict[str, Any]:
        """The first buffered or future message matching; TimeoutError, or SignalingClosed.

        `type_` is one type, a tuple of types, or None for any; `call_id`, `ref` and any
        other keyword (`meeting_id=7`, `user="bob"`) must equal the message's field.
        """
        types = (type_,) if isinstance(type_, str) else type_
        if call_id is not None:
            where["call_id"] = call_id
        if ref is not None:
            where["ref"] = ref

        async def _wait() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    found = self._take(types, where)
                    if found is not None:
                        return found
                    if self.closed is not None:
                        raise self.closed
                    await self._arrived.wait()

        return await asyncio.wait_for(_wait(), timeout)

    def drain(self) -> list[dict[str, Any]]:
        """Everything buffered so far (and forget it)."""
        messages = list(self._buffer)
        self._buffer.clear()
        return messages

    async def wait_closed(self, timeout: float = 10) -> SignalingClosed:
        """Wait until the server closes the socket; returns the close code and reason."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                while self.closed is None:
                    await self._arrived.wait()
        return self.closed

    # Call control and negotiation, as PROTOCOL.md names them.
    async def call(self, username: str) -> dict[str, Any]:
        """Ring `username` from this device: the `ack` (with `outcome`) or the `error`."""
        return await self.request({"type": "call", "to": username})

    async def accept(self, call_id: int) -> dict[str, Any]:
        return await self.request({"type": "accept", "call_id": call_id})

    async def decline(self, call_id: int) -> dict[str, Any]:
        return await self.request({"type": "decline", "call_id": call_id})

    async def hangup(self, call_id: int) -> dict[str, Any]:
        return await self.request({"type": "hangup", "call_id": call_id})

    async def relay(self, type_: str, call_id: int, to: str, payload: Any) -> None:
        await self.send({"type": type_, "call_id": call_id, "to": to, "payload": payload})

    # Meetings
    async def join_meeting(self, meeting_id: int, invite: str | None = None) -> dict[str, Any]:
        """`ack` (with `state`: admitted or waiting) or `error` (room_full, ...)."""
        message = {"type": "join_meeting", "meeting_id": meeting_id}
        if invite:
            message["invite"] = invite
        return await self.request(message)

    async def leave_meeting(self, meeting_id: int) -> dict[str, Any]:
        return await self.request({"type": "leave_meeting", "meeting_id": meeting_id})

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _backoff(attempt: int) -> float:
    """0.5 s doubling to 10 s, jittered to between half and all of it."""
    base = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
    return base / 2 + random.random() * base / 2
