"""Hardened WebSocket framing over gevent-websocket's handshake (see FIELD-NOTES.md).

gevent-websocket 0.10.1 trusts a frame's declared length, unmasks byte by byte, validates
UTF-8 twice in Python, never writes close status codes and answers a bad handshake key with
a 500. This module keeps its HTTP upgrade plumbing and replaces the rest: the header is read
and checked against the size limit before any payload byte is read, unmasking is one
big-integer XOR, text is decoded once, and close frames carry their 2-byte status.

Reading belongs to one greenlet (the connection's reader); writing to one at a time, which
`signaling.writer` arranges.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import gevent
from geventwebsocket.handler import WebSocketHandler

from signaling.errors import CloseCode, PeerClosed, ProtocolViolation

log = logging.getLogger(__name__)

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the repeated 4-byte `mask` in one big-integer operation."""
    size = len(payload)
    if not size:
        return payload
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def frame_header(opcode: int, length: int) -> bytes:
    """Header of an unmasked, final server frame."""
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def close_payload(code: int, reason: str = "") -> bytes:
    # Control frames carry at most 125 bytes: 2 for the code, 123 for the reason.
    return struct.pack("!H", code) + reason.encode()[:123]


def _valid_close_code(code: int) -> bool:
    """RFC 6455 section 7.4: codes a peer may send in a close frame."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


class WebSocket:
    """One server-side WebSocket over a connected socket and its buffered reader."""

    def __init__(self, rfile: BinaryIO, sock: Any, max_message: int) -> None:
        self.rfile = rfile
        self.sock = sock
        self.max_message = max_message
        self.closed = False
        self._fragments: list[bytes] = []
        self._fragment_size = 0

    # -- reading (the reader greenlet only) -------------------------------------------
    def _read_exact(self, size: int) -> bytes:
        data = self.rfile.read(size) if size else b""
        if len(data) != size:
            raise ConnectionError("connection closed by the client")
        return data

    def _read_header(self) -> tuple[bool, int, int, bytes]:
        """(fin, opcode, payload length, mask); refuses what we would not read."""
        first, second = self._read_exact(2)
        fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
        if first & 0x70:
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, "reserved bits set")
        if not second & 0x80:
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
        if opcode in CONTROL_OPCODES and (not fin or length > 125):
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, "bad control frame")
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        return fin, opcode, length, self._read_exact(4)

    def _check_data_frame(self, opcode: int, length: int) -> None:
        if opcode == OP_BINARY:
            raise ProtocolViolation(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted")
        if opcode not in (OP_TEXT, OP_CONTINUATION):
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if (opcode == OP_CONTINUATION) != bool(self._fragments):
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, "bad fragmentation")
        if self._fragment_size + length > self.max_message:
            raise ProtocolViolation(CloseCode.MESSAGE_TOO_BIG, "message too big")

    def receive(self) -> tuple[int, Any]:
        """The next text message or control frame: (OP_TEXT, str), (OP_PING|OP_PONG, bytes).

        Raises PeerClosed for a close frame, ProtocolViolation (with the close code to send)
        for a frame we refuse, ConnectionError when the connection ends.
        """
        while True:
            fin, opcode, length, mask = self._read_header()
            if opcode not in CONTROL_OPCODES:
                self._check_data_frame(opcode, length)
            payload = unmask(self._read_exact(length), mask)
            if opcode == OP_CLOSE:
                raise self._peer_closed(payload)
            if opcode in (OP_PING, OP_PONG):
                return opcode, payload
            self._fragments.append(payload)
            self._fragment_size += length
            if fin:
                return OP_TEXT, self._take_text()

    def _take_text(self) -> str:
        data = b"".join(self._fragments)
        self._fragments, self._fragment_size = [], 0
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation(CloseCode.INVALID_PAYLOAD, "invalid UTF-8") from None

    @staticmethod
    def _peer_closed(payload: bytes) -> Exception:
        if not payload:
            return PeerClosed(None)
        if len(payload) < 2:
            return ProtocolViolation(CloseCode.PROTOCOL_ERROR, "bad close frame")
        (code,) = struct.unpack("!H", payload[:2])
        if not _valid_close_code(code):
            return ProtocolViolation(CloseCode.PROTOCOL_ERROR, "bad close code")
        try:
            return PeerClosed(code, payload[2:].decode("utf-8"))
        except UnicodeDecodeError:
            return ProtocolViolation(CloseCode.INVALID_PAYLOAD, "invalid UTF-8 in close reason")

    # -- writing (one writer at a time: see signaling.writer) -------------------------
    def write_nowait(self, data: bytes | memoryview) -> int:
        """Write what the kernel takes at once; the number of bytes (0 when none fit).

        Never switches greenlets, so it cannot interleave with another write. Raises
        OSError when the connection is gone.
        """
        try:
            # gevent's socket: a timeout of 0.0 for this call only means "never wait".
            return self.sock.send(data, 0, 0.0)
        except BlockingIOError:
            return 0

    def write(self, data: bytes | memoryview) -> None:
        """Write all of `data`, waiting for the client as long as it takes."""
        self.sock.sendall(data)

    def end_writing(self) -> None:
        """Half-close after the close frame: the client reads it, then our EOF."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def send_frame(self, opcode: int, payload: bytes) -> None:
        self.write(frame_header(opcode, len(payload)) + payload)

    def send_close(self, code: int, reason: str = "") -> None:
        """Write a close frame that really carries `code`, then stop writing."""
        self.send_frame(OP_CLOSE, close_payload(code, reason))
        self.end_writing()

    # -- ending --------------------------------------------------------------------------
    def abort(self) -> None:
        """Shut the socket down both ways; a blocked read or write returns at once."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def linger(self, timeout: float, budget: int) -> None:
        """Discard what the client still sends until it closes, for at most `timeout` s.

        Closing a socket with unread input makes the kernel reset the connection, and the
        client may then never read our close frame (e.g. after an oversized frame).
        """
        with gevent.Timeout(timeout, False):
            while budget > 0:
                try:
                    chunk = self.rfile.read1(65536)
                except (OSError, ValueError):
                    return
                if not chunk:
                    return
                budget -= len(chunk)


OriginPolicy = Callable[[str, str], bool]


def origin_policy(allowed: Iterable[str]) -> OriginPolicy:
    """Whether a browser `Origin` may connect: exactly one of the `allowed` origins.

    Origins compare by scheme, host and port (case and a default port ignored). With none
    allowed, every browser is refused; the daemon's settings default the list to the web
    app's CHIMECAST_PUBLIC_URL. The Host header is never consulted: a page on another port
    or scheme of the same host is another origin.
    """

    def key(origin: str) -> tuple[str, str, int | None] | None:
        try:
            parts = urlsplit(origin.strip().lower())
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        default = {"http": 80, "https": 443}[parts.scheme]
        return parts.scheme, parts.hostname, None if port == default else port

    listed = {key(origin) for origin in allowed} - {None}

    def check(origin: str, host: str) -> bool:
        return key(origin) in listed if listed else False

    return check


class HardenedHandler(WebSocketHandler):
    """gevent-websocket's request handler with a checked handshake and our framing.

    Configure a subclass with `handler_class()`; the WSGI application then finds our
    `WebSocket` in `environ["wsgi.websocket"]`.
    """

    websocket_path = "/ws"
    max_message = 64 * 1024
    origin_allowed: OriginPolicy = staticmethod(lambda origin, host: True)  # type: ignore[assignment]

    def log_request(self) -> None:
        # Health probes would flood the log at INFO; WebSocket sessions log themselves.
        log.debug("%s", self.format_request())

    def _refuse(self, status: str, text: str, headers: list | None = None) -> list[bytes]:
        log.info("refused WebSocket handshake from %s: %s", self.client_address, text)
        self.start_response(status, [("Content-Type", "text/plain"), *(headers or [])])
        return [text.encode()]

    def _handshake_problem(self) -> list[bytes] | None:
        environ = self.environ
        if environ.get("PATH_INFO") != self.websocket_path:
            return self._refuse("404 Not Found", "No WebSocket endpoint here.")
        if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13":
            version = [("Sec-WebSocket-Version", "13")]
            return self._refuse("426 Upgrade Required", "WebSocket version 13 only.", version)
        try:
            key = base64.b64decode(environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 16:
            return self._refuse("400 Bad Request", "Invalid Sec-WebSocket-Key.")
        origin = environ.get("HTTP_ORIGIN")
        if origin and not self.origin_allowed(origin, environ.get("HTTP_HOST", "")):
            return self._refuse("403 Forbidden", "Origin not allowed.")
        return None

    def upgrade_connection(self) -> list[bytes] | None:
        """Validate the handshake (400/403/404/426 instead of a 500) and switch protocols."""
        problem = self._handshake_problem()
        if problem is not None:
            return problem
        key = self.environ["HTTP_SEC_WEBSOCKET_KEY"].strip()
        # Small frames go out at once: with Nagle on, a second frame sent back to back
        # (an offer then its candidates, `ringing` then `accepted`) waited ~40 ms for the
        # client's delayed ACK (measured with chimecast-bench).
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.websocket = WebSocket(self.rfile, self.socket, self.max_message)
        self.environ.update({"wsgi.websocket_version": "13", "wsgi.websocket": self.websocket})
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode("latin-1")).digest())
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept.decode("latin-1")),
        ]
        self.start_response("101 Switching Protocols", headers)
        return None

    def run_websocket(self) -> None:
        """Hand the socket to the application; the server closes it when that returns."""
        try:
            for _chunk in self.application(self.environ, lambda *args, **kwargs: None):
                pass
        finally:
            self.environ["wsgi.websocket"] = None
            self.websocket = None


def handler_class(path: str, max_message: int, origin_allowed: OriginPolicy) -> type:
    """A HardenedHandler subclass configured for one server."""
    return type(
        "ConfiguredHandler",
        (HardenedHandler,),
        {
            "websocket_path": path,
            "max_message": max_message,
            "origin_allowed": staticmethod(origin_allowed),
        },
    )
