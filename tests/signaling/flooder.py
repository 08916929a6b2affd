"""A raw-socket flooder for the hostile-client tests, run as its own process.

    python -m tests.signaling.flooder URL KIND SECONDS [TOKEN]

For SECONDS it opens a connection (sending `hello` first when TOKEN is given), writes one
kind of tiny frame as fast as loopback takes it, and when the daemon closes that connection
opens the next. It prints one JSON object: per connection, how long after its flood began
the daemon closed it and with which close code. A separate process, so that its busy loop
competes with the daemon for the CPU as a real attacker would, not for the test's GIL.

Kinds: `pong` (masked empty pongs), `ping` (pings, reading the pongs), `ping_noread`
(pings, never reading), `continuation` (empty continuation frames after a first fragment),
`text` (1-byte text frames).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from typing import Any

from tests.signaling.wsclient import handshake

MASK = b"\x01\x02\x03\x04"
BATCH = 10_000  # frames per sendall: ~60 kB, as the reproduction did


def masked(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """One small masked client frame (payload < 126 bytes)."""
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + MASK + body


FLOODS = {
    "pong": (b"", masked(0xA)),
    "ping": (b"", masked(0x9, b"hb")),
    "ping_noread": (b"", masked(0x9, b"hb")),
    "continuation": (masked(0x1, b"{", fin=False), masked(0x0, fin=False)),
    "text": (b"", masked(0x1, b"x")),
}


class Watcher:
    """Reads the server's frames on its own thread; notes the close frame and when it came."""

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self.sock, self.buffer = sock, buffered
        self.code: int | None = None
        self.closed_at: float | None = None
        self.pongs = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue  # the socket's timeout is for the sender; keep reading
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def run(self) -> None:
        try:
            while True:
                first, second = self._read(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._read(2))
                payload = self._read(length)
                if first & 0x0F == 0xA:
                    self.pongs += 1
                if first & 0x0F == 0x8:
                    self.code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    break
        except (OSError, EOFError, ValueError):
            pass
        if self.closed_at is None:
            self.closed_at = time.monotonic()


def hello(sock: socket.socket, buffered: bytes, token: str) -> bytes:
    """Send hello and read up to the end of `welcome` (the first text frame)."""
    text = json.dumps({"type": "hello", "token": token}).encode()
    sock.sendall(masked(0x1, text) if len(text) < 126 else _long_text(text))
    data = buffered
    while True:
        if len(data) >= 4:
            length, start = data[1] & 0x7F, 2
            if length == 126:
                (length,), start = struct.unpack("!H", data[2:4]), 4
            if len(data) >= start + length:
                return data[start + length :]
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before welcome")
        data += chunk


def _long_text(text: bytes) -> bytes:
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(text))
    return struct.pack("!BBH", 0x81, 0x80 | 126, len(text)) + MASK + body


def flood_once(url: str, kind: str, until: float, token: str | None) -> dict[str, Any]:
    """One connection's flood; how long until the daemon closed it, and the code."""
    sock, status, _head, rest = handshake(url)
    if status != 101:
        sock.close()
        return {"refused": status}
    sock.settimeout(1.0)
    if token:
        rest = hello(sock, rest, token)
    watcher = Watcher(sock, rest)
    if kind != "ping_noread":
        watcher.thread.start()
    first, frame = FLOODS[kind]
    batch = frame * BATCH
    started = time.monotonic()
    sent = 0
    try:
        sock.sendall(first)
        while watcher.closed_at is None and time.monotonic() < until:
            try:
                sock.sendall(batch)
                sent += BATCH
            except TimeoutError:
                continue  # the daemon is not reading us right now; keep trying
    except OSError:
        watcher.closed_at = watcher.closed_at or time.monotonic()
    if kind == "ping_noread" and watcher.closed_at is not None:
        watcher.run()  # whatever is still readable: the pongs, perhaps the close frame
    if watcher.thread.is_alive():
        watcher.thread.join(2.0)
    sock.close()
    closed_at = watcher.closed_at
    return {
        "closed_after": None if closed_at is None else round(closed_at - started, 4),
        "code": watcher.code,
        "frames": sent,
        "pongs": watcher.pongs,
        "window": round(until - started, 4),  # how long this connection could have flooded
    }


def main(argv: list[str]) -> int:
    url, kind, seconds = argv[0], argv[1], float(argv[2])
    token = argv[3] if len(argv) > 3 else None
    until = time.monotonic() + seconds
    connections = []
    while time.monotonic() < until:
        try:
            connections.append(flood_once(url, kind, until, token))
        except (OSError, EOFError) as exc:
            connections.append({"error": str(exc)})
            time.sleep(0.05)
    print(json.dumps({"kind": kind, "connections": connections}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
