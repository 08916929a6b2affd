"""A tiny WebSocket client for the real-socket tests.

It shows exactly what a client observes (close codes, ping frames, refused handshakes) and
can send what well-behaved libraries refuse to (oversized or binary frames, lying lengths).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import socket
import struct
import threading
import time
from typing import Any
from urllib.parse import urlsplit

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class Closed(Exception):
    """The server closed the connection; `code` is None when no close frame came."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class Refused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"handshake refused: {status} {body!r}")
        self.status = status
        self.body = body


def handshake(url: str, origin: str | None = None, key: str | None = None, timeout: float = 5):
    """Open a socket and send the upgrade request; returns (socket, status, rest of response)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            break
        response += chunk
    head, _, rest = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return sock, status, head, rest


class RawClient:
    """One client connection. Like a browser, it reads all the time and answers pings.

    A reader thread queues messages (and the final close); `recv()` takes them in order.
    Set `auto_pong = False` to play a client that has stopped responding.
    """

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.buffer = buffered
        self.auto_pong = True
        self.pings = 0
        self.skipped: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}
        self._inbox: queue.Queue = queue.Queue()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_forever, daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, url: str, origin: str | None = None, timeout: float = 5) -> RawClient:
        sock, status, head, rest = handshake(url, origin, timeout=timeout)
        if status != 101:
            sock.close()
            raise Refused(status, rest)
        sock.settimeout(None)
        return cls(sock, rest)

    # -- frames ---------------------------------------------------------------------------
    def send_frame(
        self, opcode: int, payload: bytes, fin: bool = True, length: int | None = None
    ) -> None:
        """A masked frame; `length` may lie about the payload size."""
        length = len(payload) if length is None else length
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            header = bytes((first, 0x80 | length))
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, 0xFE, length)
        else:
            header = struct.pack("!BBQ", first, 0xFF, length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self._send_lock:
            self.sock.sendall(header + mask + masked)

    def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.send_frame(OP_TEXT, text.encode())

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise Closed(None, "connection ended without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        assert not second & 0x80, "server frames are never masked"
        return first & 0x0F, self._read(length)

    def _read_forever(self) -> None:
        try:
            while True:
                opcode, payload = self._read_frame()
                if opcode == OP_TEXT:
                    self._inbox.put(json.loads(payload))
                elif opcode == OP_PING:
                    self.pings += 1
                    if self.auto_pong:
                        self.send_frame(OP_PONG, payload)
                elif opcode == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    raise Closed(code, payload[2:].decode())
        except Closed as closed:
            self._inbox.put(closed)
        except OSError as exc:
            self._inbox.put(Closed(None, str(exc)))

    # -- messages -------------------------------------------------------------------------
    def recv(self, timeout: float = 5) -> dict[str, Any]:
        """The next JSON message; Closed once the server has closed (TimeoutError if none)."""
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no message within {timeout}s") from None
        if isinstance(item, Closed):
            self._inbox.put(item)  # every later recv() sees the close too
            raise item
        return item

    def expect(self, kind: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """The first message of `kind` (matching `match`); others are kept in `skipped`."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if message.get("type") == kind and all(message.get(k) == v for k, v in match.items()):
                return message
            self.skipped.append(message)

    def wait_closed(self, timeout: float = 5) -> Closed:
        """Read until the server closes; returns the close (code None: no close frame)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.recv(max(0.01, deadline - time.monotonic()))
            except Closed as closed:
                return closed
            self.skipped.append(message)

    def hello(self, token: str, timeout: float = 5) -> dict[str, Any]:
        self.send({"type": "hello", "token": token, "id": "hello"})
        self.welcome = self.expect("welcome", timeout)
        return self.welcome

    def close(self) -> None:
        """Send a close frame and drop the connection (the daemon sees the device leave)."""
        try:
            self.send_frame(OP_CLOSE, struct.pack("!H", 1000))
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
