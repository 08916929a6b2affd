"""Lean signaling connections for load: orjson, no per-message locks, two transports.

`signaling.client.SignalingClient` is built for tests (a condition variable woken for
every message). Here a relayed message goes straight to a callback with its arrival time,
and control messages (`welcome`, `incoming`, `ack`...) resolve futures registered with
`expect()`, or wait in a small buffer until one is.

Two transports speak the same WebSocket: `WebsocketsConn` (the `websockets` library) and
`RawConn` (an asyncio Protocol doing RFC 6455 framing itself, masking with websockets' C
`apply_mask`), which costs the load generator roughly 40 % less CPU per message, so that on
a small machine the server, not the tool, is what saturates.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import connect

from signaling.bench.raw_ws import RawWebSocket

RELAYED = frozenset({"offer", "answer", "candidate"})
RelayHandler = Callable[[dict[str, Any], int], None]


class BenchConn:
    """One authenticated connection. `on_relay(message, arrival_ns)` gets relayed messages."""

    def __init__(self, url: str, token: str, on_relay: RelayHandler | None = None) -> None:
        self.url = url
        self.token = token
        self.on_relay = on_relay
        self.welcome: dict[str, Any] = {}
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.errors: Counter[str] = Counter()  # `error` codes received, e.g. rate_limited
        self._waiters: list[tuple[str | None, Any, Any, asyncio.Future]] = []
        self._buffer: deque[dict[str, Any]] = deque(maxlen=256)

    # -- transport (subclasses) --------------------------------------------------------
    async def _connect(self) -> None:
        raise NotImplementedError

    async def send_text(self, text: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop the TCP connection at once (a reset), with no close handshake."""
        raise NotImplementedError

    # -- protocol ----------------------------------------------------------------------
    async def open(self, timeout: float = 10) -> dict[str, Any]:
        """Connect, send `hello`, and return `welcome` (raises on timeout, close or refusal)."""
        async with asyncio.timeout(timeout):
            await self._connect()
            welcome = self.expect("welcome")
            await self.send({"type": "hello", "id": 1, "token": self.token})
            self.welcome = await welcome
        if self.welcome.get("type") != "welcome":
            raise ConnectionError(f"hello refused: {self.welcome}")
        return self.welcome

    def _on_message(self, raw: str | bytes) -> None:
        arrived = time.perf_counter_ns()
        self._dispatch(orjson.loads(raw), arrived)

    def _dispatch(self, message: dict[str, Any], arrived: int) -> None:
        if self.on_relay is not None and message.get("type") in RELAYED:
            self.on_relay(message, arrived)
            return
        message["_at"] = arrived  # arrival time, for latency figures
        if message.get("type") == "error":
            self.errors[str(message.get("code"))] += 1
        if not self._resolve(message):
            self._buffer.append(message)

    def _on_closed(self, code: int | None, reason: str = "") -> None:
        self.close_code, self.close_reason = code, reason
        self.closed.set()
        for *_, future in self._waiters:
            if not future.done():
                future.set_exception(ConnectionError(f"closed with {code}"))
        self._waiters.clear()

    @staticmethod
    def _matches(message: dict[str, Any], type_: str | None, call_id: Any, ref: Any) -> bool:
        return (
            (type_ is None or message.get("type") == type_)
            and (call_id is None or message.get("call_id") == call_id)
            and (ref is None or message.get("ref") == ref)
        )

    def _resolve(self, message: dict[str, Any]) -> bool:
        for index, (type_, call_id, ref, future) in enumerate(self._waiters):
            # An `error` about the same call or request resolves the waiter too.
            if self._matches(message, type_, call_id, ref) or (
                message.get("type") == "error" and self._matches(message, None, call_id, ref)
            ):
                del self._waiters[index]
                if not future.done():
                    future.set_result(message)
                return True
        return False

    def expect(self, type_: str | None, call_id: Any = None, ref: Any = None) -> asyncio.Future:
        """A future for the next message of `type_` (and call, and ref), or an `error` for it.

        A match that already arrived resolves it at once. Register before causing the event.
        """
        future = asyncio.get_running_loop().create_future()
        for message in self._buffer:
            if self._matches(message, type_, call_id, ref):
                self._buffer.remove(message)
                future.set_result(message)
                return future
        if self.closed.is_set():
            future.set_exception(ConnectionError(f"closed with {self.close_code}"))
        else:
            self._waiters.append((type_, call_id, ref, future))
        return future

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(message).decode())

    @staticmethod
    def relay_prefix(kind: str, call_id: int, to: str) -> str:
        """The JSON text of a relayed message up to and including `"payload":{`."""
        return (
            f'{{"type":"{kind}","call_id":{call_id},"to":{orjson.dumps(to).decode()},"payload":{{'
        )

    async def request(self, message: dict[str, Any], ref: str, timeout: float = 10) -> dict:
        """Send `message` with id `ref` and return the reply that carries it (ack or error)."""
        reply = self.expect(None, ref=ref)
        await self.send({**message, "id": ref})
        return await asyncio.wait_for(reply, timeout)


class WebsocketsConn(BenchConn):
    """Over the `websockets` library (asyncio implementation)."""

    _ws: Any = None
    _reader: asyncio.Task | None = None

    async def _connect(self) -> None:
        self._ws = await connect(
            self.url,
            compression=None,  # gevent-websocket has no permessage-deflate
            ping_interval=None,  # the server pings idle connections; the client answers
            proxy=None,
            max_queue=None,
            close_timeout=2,
            open_timeout=None,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            async for raw in self._ws:
                self._on_message(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._on_closed(self._ws.close_code, self._ws.close_reason or "")

    async def send_text(self, text: str) -> None:
        await self._ws.send(text)

    def abort(self) -> None:
        if self._ws is not None:
            self._ws.transport.abort()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class RawConn(BenchConn):
    """Over `RawWebSocket` (asyncio Protocol, framing done here)."""

    _ws: RawWebSocket | None = None

    async def _connect(self) -> None:
        self._ws = await RawWebSocket.connect(self.url, self._on_message, self._on_closed)

    async def send_text(self, text: str) -> None:
        self._ws.send_text(text)

    def abort(self) -> None:
        if self._ws is not None:
            self._ws.abort()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


class PeerJSConn(RawConn):
    """PeerJS server's protocol (peer 1.0.2) over `RawWebSocket`, translated at the edges.

    The id and a token ride in the URL and the server answers `OPEN` (no hello); relayed
    messages go out as `{"type": "OFFER"|"ANSWER"|"CANDIDATE", "dst": id, "payload": ...}`
    and come back with `src` stamped. The call number travels in the payload as
    `connectionId`, as PeerJS clients do. `HEARTBEAT` every `HEARTBEAT_S` like the PeerJS
    browser client (the server drops a client that has not sent one for 60 s).
    """

    HEARTBEAT_S = 5.0
    _beat: asyncio.TimerHandle | None = None

    async def _connect(self) -> None:
        url = f"{self.url}&id={self.token}&token=bench"
        self._ws = await RawWebSocket.connect(url, self._on_message, self._on_closed)
        self._beat = asyncio.get_running_loop().call_later(self.HEARTBEAT_S, self._heartbeat)

    async def open(self, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            opened = self.expect("welcome")
            await self._connect()
            self.welcome = await opened
        if self.welcome.get("type") != "welcome":
            raise ConnectionError(f"PeerJS refused the connection: {self.welcome}")
        return self.welcome

    def _heartbeat(self) -> None:
        if self._ws is None or self.closed.is_set():
            return
        self._ws.send_text('{"type":"HEARTBEAT"}')
        self._beat = asyncio.get_running_loop().call_later(self.HEARTBEAT_S, self._heartbeat)

    def _on_message(self, raw: str | bytes) -> None:
        arrived = time.perf_counter_ns()
        message = orjson.loads(raw)
        kind = str(message.get("type", ""))
        payload = message.get("payload")
        if kind in PEERJS_RELAYED:
            payload = payload if isinstance(payload, dict) else {}
            message = {"type": kind.lower(), "from": message.get("src"),
                       "call_id": payload.get("connectionId"), "payload": payload}  # fmt: skip
        elif kind == "OPEN":
            message = {"type": "welcome"}
        else:  # ERROR, ID-TAKEN, EXPIRE, LEAVE: a refusal or an error
            message = {"type": "error", "code": kind, "message": payload}
        self._dispatch(message, arrived)

    @staticmethod
    def relay_prefix(kind: str, call_id: int, to: str) -> str:
        return (f'{{"type":"{kind.upper()}","dst":{orjson.dumps(to).decode()},'
                f'"payload":{{"connectionId":{call_id},')  # fmt: skip

    async def send(self, message: dict[str, Any]) -> None:
        if message.get("type") in RELAYED:
            message = {"type": message["type"].upper(), "dst": message.get("to"),
                       "payload": {"connectionId": message.get("call_id"),
                                   **(message.get("payload") or {})}}  # fmt: skip
        await self.send_text(orjson.dumps(message).decode())

    async def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        await super().close()


PEERJS_RELAYED = frozenset({"OFFER", "ANSWER", "CANDIDATE"})

CLIENTS: dict[str, type[BenchConn]] = {"raw": RawConn, "websockets": WebsocketsConn}
DEFAULT_CLIENT = "raw"


async def close_all(conns: list[BenchConn], batch: int = 500) -> None:
    """Close connections a batch at a time (closing 10,000 at once floods the server)."""
    for start in range(0, len(conns), batch):
        chunk = conns[start : start + batch]
        await asyncio.gather(*(c.close() for c in chunk), return_exceptions=True)
