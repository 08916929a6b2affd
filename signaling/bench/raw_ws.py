"""A minimal RFC 6455 client as an asyncio Protocol, for generating load cheaply.

Text frames only (what the protocol uses), masked with a random key through websockets'
C `apply_mask`; pings are answered; a close frame is echoed. Server frames may be
fragmented. No extensions, no subprotocols. `wss://` goes through the loop's TLS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import socket
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

from websockets.speedups import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_getrandbits = random.getrandbits


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = _getrandbits(32).to_bytes(4, "big")
    return header + mask + apply_mask(payload, mask)


class _Protocol(asyncio.Protocol):
    def __init__(self, ws: RawWebSocket) -> None:
        self.ws = ws

    def connection_made(self, transport) -> None:
        self.ws._transport = transport

    def data_received(self, data: bytes) -> None:
        self.ws._received(data)

    def connection_lost(self, exc) -> None:
        self.ws._lost()


class RawWebSocket:
    """One client WebSocket. `on_text(payload_bytes)` per message, `on_closed(code, reason)` once."""

    def __init__(
        self, on_text: Callable[[bytes], None], on_closed: Callable[[int | None, str], None]
    ) -> None:
        self._on_text = on_text
        self._on_closed = on_closed
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._handshake: asyncio.Future | None = None
        self._fragments: list[bytes] | None = None
        self._close_sent = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._gone = asyncio.Event()

    @classmethod
    async def connect(cls, url: str, on_text, on_closed) -> RawWebSocket:
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host, port = parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80)
        ws = cls(on_text, on_closed)
        loop = asyncio.get_running_loop()
        ws._handshake = loop.create_future()
        await loop.create_connection(lambda: _Protocol(ws), host, port, ssl=secure or None)
        key = base64.b64encode(os.urandom(16))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        ws._transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await ws._handshake
        expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
        if not head.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")) or expected not in head:
            ws._transport.close()
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            raise ConnectionError(f"handshake refused: {status}")
        return ws

    # -- input ---------------------------------------------------------------------------
    def _received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._handshake is not None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[: end + 4])
            del buffer[: end + 4]
            future, self._handshake = self._handshake, None
            future.set_result(head)
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length, start = second & 0x7F, offset + 2
            if length == 126:
                if size - start < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, start)
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, start)
                start += 8
            if second & 0x80:  # servers must not mask, but tolerate it
                start += 4
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            if second & 0x80:
                payload = apply_mask(payload, bytes(buffer[start - 4 : start]))
            offset = start + length
            self._frame(first & 0x80, first & 0x0F, payload)
        if offset:
            del buffer[:offset]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT or opcode == OP_BINARY:
            if fin:
                self._on_text(payload)
            else:
                self._fragments = [payload]
        elif opcode == OP_CONT and self._fragments is not None:
            self._fragments.append(payload)
            if fin:
                whole, self._fragments = b"".join(self._fragments), None
                self._on_text(whole)
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self._close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self._close_reason = payload[2:].decode("utf-8", "replace")
            if not self._close_sent:
                self._write(OP_CLOSE, payload[:2])
                self._close_sent = True
            if self._transport is not None:
                self._transport.close()

    def _lost(self) -> None:
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(ConnectionError("connection closed during the handshake"))
        if not self._gone.is_set():
            self._gone.set()
            code = self._close_code if self._close_code is not None else 1006
            self._on_closed(code, self._close_reason)

    # -- output --------------------------------------------------------------------------
    def _write(self, opcode: int, payload: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(client_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        if self._close_sent or self._gone.is_set():
            raise ConnectionError("the connection is closed")
        self._write(OP_TEXT, text.encode())

    def abort(self) -> None:
        """Reset the TCP connection now (no close frame), as a dead network path would."""
        if self._transport is not None:
            sock = self._transport.get_extra_info("socket")
            try:  # linger 0: the close sends a reset, not a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (AttributeError, OSError):
                pass
            self._transport.abort()

    async def close(self, code: int = 1000, timeout: float = 2) -> None:
        """Send a close frame, wait for the server's (or the end), then drop the socket."""
        if self._transport is None:
            return
        if not self._close_sent and not self._gone.is_set():
            self._close_sent = True
            self._write(OP_CLOSE, struct.pack("!H", code))
        try:
            await asyncio.wait_for(self._gone.wait(), timeout)
        except TimeoutError:
            self._transport.abort()
