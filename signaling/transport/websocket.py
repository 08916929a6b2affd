"""Hardened WebSocket framing for the daemon's connections (see FIELD-NOTES.md).

gevent-websocket 0.10.1 trusts a frame's declared length, unmasks byte by byte, validates
UTF-8 twice in Python, never writes close status codes and keeps fragments without bound.
Here the header is read and checked against the limits before any payload byte is read,
every frame (control frames and empty fragments too) is counted against the connection's
frame budget, a message's fragments go into one bytearray and are capped in number,
unmasking is one big-integer XOR, text is decoded once, and close frames carry their
2-byte status. The HTTP upgrade itself is `signaling.transport.handshake`'s.

Reading belongs to one greenlet (the connection's reader); writing to one at a time, which
`signaling.transport.writer` arranges.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import gevent

from signaling.errors import CloseCode, PeerClosed, ProtocolViolation
from signaling.transport.limits import TokenBucket

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
OP_PARKED = -1  # not an opcode: `receive` parked the reader (nothing to read)
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
# The reader gives other greenlets a turn after this much work: a frame costs one unit and
# one more per KiB of payload. Frames already in the buffered reader are parsed without
# touching the socket, so without this a client that keeps bytes waiting holds the hub.
YIELD_WORK = 64
# Every connection reads into this one buffer and copies out only the bytes it got: a read's
# bytes land in it and are copied out without a greenlet switch in between (one OS thread
# runs the hub), so connections never see each other's data. An 8 KiB buffered reader per
# connection was a third of an idle connection's memory.
READ_CHUNK = 65536
_READ_BUFFER = bytearray(READ_CHUNK)
_READ_VIEW = memoryview(_READ_BUFFER)


def _unmask_in_python(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the repeated 4-byte `mask` in one big-integer operation."""
    size = len(payload)
    if not size:
        return payload
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


try:  # the C loop of the `websockets` package: 0.1 us for a 600 B payload, against 1.6 us
    from websockets.speedups import apply_mask as unmask
except ImportError:  # pragma: no cover - a platform without its wheel's extension
    unmask = _unmask_in_python


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


def _decode(data: bytes | bytearray) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(CloseCode.INVALID_PAYLOAD, "invalid UTF-8") from None


def _valid_close_code(code: int) -> bool:
    """RFC 6455 section 7.4: codes a peer may send in a close frame."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


class WebSocket:
    """One server-side WebSocket over a connected socket and its buffered reader.

    `budget` takes one token per frame received, whatever its kind; when it runs dry the
    read raises ProtocolViolation(4008). A message may be sliced into at most
    `max_fragments` frames (else 1008) and `max_message` bytes (else 1009), so the input a
    connection buffers is at most one message plus the reader's buffer.
    """

    # Thousands live at once: no per-instance __dict__.
    __slots__ = (
        "sock",
        "max_message",
        "max_fragments",
        "closed",
        "_readinto",
        "_parkable",
        "_pending",
        "_pos",
        "_budget",
        "_fragments",
        "_fragment_count",
        "_work",
    )

    def __init__(
        self,
        rfile: Any,
        sock: Any,
        max_message: int,
        *,
        max_fragments: int = 64,
        budget: TokenBucket | None = None,
        buffered: bytes = b"",
    ) -> None:
        """`rfile` has `readinto1` or `readinto` (one read of what is there, waiting only
        when nothing is); `buffered` is input already read from the socket (after the
        HTTP request, by the handshake's reader). An `rfile` with `wait_or_park` (a
        signaling.transport.reader.SocketReader) lets `receive` park the reader."""
        self._readinto = getattr(rfile, "readinto1", None) or rfile.readinto
        self._parkable = rfile if hasattr(rfile, "wait_or_park") else None
        self._pending = buffered  # read from the socket, not parsed yet (usually empty)
        self._pos = 0
        self.sock = sock
        self.max_message = max_message
        self.max_fragments = max_fragments
        self.closed = False
        self._budget = budget
        self._fragments: bytearray | None = None  # the message being reassembled
        self._fragment_count = 0
        self._work = 0  # since the reader last gave the hub a turn (YIELD_WORK)

    # -- reading (the reader greenlet only) -------------------------------------------
    def _read_exact(self, size: int) -> bytes:
        pending, pos = self._pending, self._pos
        end = pos + size
        if end < len(pending):
            self._pos = end
            return pending[pos:end]
        if end == len(pending):
            self._pending, self._pos = b"", 0
            return pending[pos:] if pos else pending
        return self._read_more(size)

    def _read_more(self, size: int) -> bytes:
        """`size` bytes, reading the socket until they are there (the rest stays pending)."""
        data = self._pending[self._pos :]
        while len(data) < size:
            got = self._readinto(_READ_BUFFER)
            if not got:
                raise ConnectionError("connection closed by the client")
            data += _READ_VIEW[:got]
        if len(data) == size:
            self._pending, self._pos = b"", 0
            return data
        self._pending, self._pos = data, size
        return data[:size]

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
            if length >> 63:  # RFC 6455 5.2: the most significant bit must be 0
                raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, "bad 64-bit length")
        return fin, opcode, length, self._read_exact(4)

    def _account(self, length: int) -> None:
        """Charge one frame to the budget, and yield to the hub after YIELD_WORK units."""
        if self._budget is not None and not self._budget.take():
            raise ProtocolViolation(CloseCode.FLOOD, "frame flood")
        self._work += 1 + (length >> 10)
        if self._work >= YIELD_WORK:
            self._work = 0
            gevent.sleep(0)

    def _check_data_frame(self, opcode: int, length: int) -> None:
        if opcode not in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        fragments = self._fragments
        if (opcode == OP_CONTINUATION) != (fragments is not None):
            raise ProtocolViolation(CloseCode.PROTOCOL_ERROR, "bad fragmentation")
        if opcode == OP_BINARY:
            raise ProtocolViolation(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted")
        if fragments is None:
            size = length
        else:
            if self._fragment_count >= self.max_fragments:
                raise ProtocolViolation(CloseCode.POLICY_VIOLATION, "too many fragments")
            size = len(fragments) + length
        if size > self.max_message:
            raise ProtocolViolation(CloseCode.MESSAGE_TOO_BIG, "message too big")

    def receive(
        self, wake: Callable[[], Any] | None = None, park_now: bool = False
    ) -> tuple[int, Any]:
        """The next text message or control frame: (OP_TEXT, str), (OP_PING|OP_PONG, bytes).

        With `wake`, over a parkable reader (signaling.transport.reader): when the socket is
        drained at a frame boundary (every byte read is parsed; a fragmented message's start
        is kept here), the reader may be parked instead (at once with `park_now`, else if
        asked while it waits) and (OP_PARKED, None) is returned: `wake()` will run in a new
        greenlet when bytes arrive, and the caller must return without reading.

        Raises PeerClosed for a close frame, ProtocolViolation (with the close code to send)
        for a frame we refuse, ConnectionError when the connection ends.
        """
        while True:
            # The usual frame, whole in what was already read: final, text, no reserved bits,
            # masked, up to 64 KiB, not inside a fragmented message. Parsed here in one go;
            # anything else (or a frame not all read yet) takes the general path below,
            # which refuses what must be refused.
            pending, pos = self._pending, self._pos
            available = len(pending) - pos
            if not available:
                # Nothing read yet: read what the socket has first (what the general path's
                # first _read_exact would do), so that a frame arriving alone - a paced
                # client's every message - is parsed here too.
                parkable = self._parkable
                if wake is not None and parkable is not None and parkable.drained:
                    if not parkable.wait_or_park(wake, park_now):
                        return OP_PARKED, None
                got = self._readinto(_READ_BUFFER)
                if not got:
                    raise ConnectionError("connection closed by the client")
                pending, pos, available = bytes(_READ_VIEW[:got]), 0, got
                self._pending, self._pos = pending, 0
            if (
                available >= 6
                and pending[pos] == 0x81
                and self._fragments is None
                and pending[pos + 1] & 0x80
            ):
                length = pending[pos + 1] & 0x7F
                start = pos + 6  # after the 4-byte mask
                if length >= 126:  # 126: a 16-bit length follows; 127 (64-bit): general path
                    length = (
                        (pending[pos + 2] << 8) | pending[pos + 3]
                        if length == 126 and available >= 8
                        else -1
                    )
                    start = pos + 8
                end = start + length
                if 0 <= length <= self.max_message and end <= len(pending):
                    self._account(length)
                    if end == len(pending):
                        self._pending, self._pos = b"", 0
                    else:
                        self._pos = end
                    return OP_TEXT, _decode(unmask(pending[start:end], pending[start - 4 : start]))
            fin, opcode, length, mask = self._read_header()
            self._account(length)
            if opcode not in CONTROL_OPCODES:
                self._check_data_frame(opcode, length)
            payload = unmask(self._read_exact(length), mask)
            if opcode == OP_CLOSE:
                raise self._peer_closed(payload)
            if opcode in (OP_PING, OP_PONG):
                return opcode, payload
            fragments = self._fragments
            if fragments is None:
                if fin:  # the usual case: a whole message in one frame
                    return OP_TEXT, _decode(payload)
                self._fragments, self._fragment_count = bytearray(payload), 1
            else:
                fragments += payload
                self._fragment_count += 1
                if fin:
                    self._fragments = None
                    return OP_TEXT, _decode(fragments)

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

    # -- writing (one writer at a time: see signaling.transport.writer) -------------------------
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

    @property
    def parked(self) -> bool:
        """Whether the reader is parked: nothing to read, no greenlet reading."""
        return self._parkable is not None and self._parkable.parked

    @property
    def reading(self) -> bool:
        """A reader greenlet exists that could be parked (never over an unparkable rfile)."""
        return self._parkable is not None and not self._parkable.parked

    def park_waiting(self) -> None:
        """Park the reader if it waits at a frame boundary (on the hub's next turn)."""
        if self._parkable is not None:
            self._parkable.park_waiting()

    # -- ending --------------------------------------------------------------------------
    def release(self) -> None:
        """Close the socket (after `abort`): the connection is over, nothing reads it."""
        self.closed = True
        release = getattr(self._parkable, "release", None)
        if release is not None:
            release()  # its watcher first: a watcher must not outlive its descriptor
        self.sock.close()

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
                    got = self._readinto(_READ_BUFFER)
                except (OSError, ValueError):
                    return
                if not got:
                    return
                budget -= got


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
