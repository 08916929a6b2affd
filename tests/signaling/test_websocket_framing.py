"""The hardened framing, on in-memory streams: limits before payload, unmasking, close codes."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc

import gevent
import pytest

from signaling.errors import PeerClosed, ProtocolViolation
from signaling.transport.limits import TokenBucket
from signaling.transport.websocket import (
    OP_PING,
    OP_PONG,
    OP_TEXT,
    YIELD_WORK,
    WebSocket,
    _unmask_in_python,
    close_payload,
    frame_header,
    origin_policy,
    unmask,
)

MASK = b"\x37\xfa\x21\x3d"


def naive_unmask(payload: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def client_frame(
    opcode: int, payload: bytes, fin: bool = True, length: int | None = None, masked=True, rsv=0
):
    """A client frame; `length` can lie about the payload size."""
    length = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return header + payload
    return header + MASK + naive_unmask(payload, MASK)


class RecordingSocket:
    def __init__(self):
        self.written = b""

    def sendall(self, data):
        self.written += data

    def shutdown(self, how):
        pass


def socket_over(data: bytes, limit: int = 1024) -> WebSocket:
    return WebSocket(io.BufferedReader(io.BytesIO(data)), RecordingSocket(), limit)


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 65535, 65536, 100_001])
def test_unmask_matches_the_byte_by_byte_definition(size):
    payload = os.urandom(size)
    assert unmask(payload, MASK) == naive_unmask(payload, MASK)
    assert _unmask_in_python(payload, MASK) == naive_unmask(payload, MASK)  # the fallback


def test_text_message_is_unmasked_and_decoded():
    text = '{"type": "ping", "note": "héllo ☎"}'
    ws = socket_over(client_frame(OP_TEXT, text.encode()))
    assert ws.receive() == (OP_TEXT, text)


def test_fragmented_message_with_a_ping_in_between():
    data = (
        client_frame(OP_TEXT, b'{"type":', fin=False)
        + client_frame(OP_PING, b"hb")
        + client_frame(0x0, b' "ping"}')
    )
    ws = socket_over(data)
    assert ws.receive() == (OP_PING, b"hb")
    assert ws.receive() == (OP_TEXT, '{"type": "ping"}')


def test_oversized_frame_is_refused_from_its_header_before_any_payload_is_read():
    # The stream holds only the header: reading the payload would hit EOF instead.
    header_only = client_frame(OP_TEXT, b"", length=1 << 30)
    ws = socket_over(header_only, limit=64 * 1024)
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive()
    assert caught.value.close_code == 1009


def test_fragments_adding_up_past_the_limit_are_refused():
    data = client_frame(OP_TEXT, b"a" * 600, fin=False) + client_frame(0x0, b"b" * 600)
    ws = socket_over(data, limit=1000)
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive()
    assert caught.value.close_code == 1009


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(0x2, b"\x00\x01"), 1003),  # binary
        (client_frame(OP_TEXT, b"plain", masked=False), 1002),  # clients must mask
        (client_frame(OP_TEXT, b"x", rsv=0x40), 1002),  # no extensions negotiated
        (client_frame(0x0, b"x"), 1002),  # continuation with nothing to continue
        (client_frame(0x3, b"x"), 1002),  # reserved opcode
        (client_frame(OP_PING, b"x" * 126), 1002),  # control frames are small
        (client_frame(OP_PING, b"x", fin=False), 1002),  # and never fragmented
        (client_frame(OP_TEXT, b"\xff\xfe"), 1007),  # not UTF-8
        (client_frame(0x8, b"\x03"), 1002),  # a one-byte close payload
        (client_frame(0x8, struct.pack("!H", 1005)), 1002),  # a code nobody may send
    ],
)
def test_protocol_violations_carry_the_close_code_to_send(frame, code):
    with pytest.raises(ProtocolViolation) as caught:
        socket_over(frame).receive()
    assert caught.value.close_code == code


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [(b"", None, ""), (close_payload(1000), 1000, ""), (close_payload(4000, "bye"), 4000, "bye")],
)
def test_client_close_frames_are_reported_with_their_code(payload, code, reason):
    with pytest.raises(PeerClosed) as caught:
        socket_over(client_frame(0x8, payload)).receive()
    assert (caught.value.code, caught.value.reason) == (code, reason)


def test_end_of_stream_is_a_connection_error():
    with pytest.raises(ConnectionError):
        socket_over(client_frame(OP_TEXT, b"abc")[:-1]).receive()


def test_close_frames_we_send_really_carry_the_status_code():
    ws = socket_over(b"")
    ws.send_close(4002, "invalid token")
    written = ws.sock.written
    assert written[0] == 0x88 and written[1] == 2 + len("invalid token")
    assert struct.unpack("!H", written[2:4]) == (4002,)
    assert written[4:] == b"invalid token"
    assert ws.closed


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_server_frame_headers_encode_the_length(size):
    header = frame_header(OP_TEXT, size)
    assert header[0] == 0x81
    if size < 126:
        assert header[1] == size
    elif size < 65536:
        assert struct.unpack("!H", header[2:4]) == (size,)
    else:
        assert struct.unpack("!Q", header[2:10]) == (size,)


@pytest.mark.parametrize(
    ("allowed", "origin", "host", "ok"),
    [
        (["http://app.example"], "http://app.example", "sig.example", True),
        (["http://app.example/"], "HTTP://APP.EXAMPLE", "sig.example", True),
        (["http://app.example"], "http://evil.example", "sig.example", False),
        (["http://app.example"], "http://app.example:8080", "sig.example", False),
        (["https://app.example"], "https://app.example:443", "sig.example", True),
        (["https://app.example"], "http://app.example", "sig.example", False),
        (["http://localhost:8000"], "http://localhost:8001", "localhost:8001", False),
        (["http://app.example"], "null", "sig.example", False),
        # Nothing configured: no browser origin at all, whatever the Host header says.
        ([], "http://localhost:8000", "localhost:8001", False),
        ([], "http://localhost:8001", "localhost:8001", False),
        ([], "null", "localhost:8001", False),
    ],
)
def test_origin_policy(allowed, origin, host, ok):
    assert origin_policy(allowed)(origin, host) is ok


# -- hostile slicing and floods (issue 14) -----------------------------------------------
def violation(ws: WebSocket, frames: int) -> int:
    """The close code of the violation raised within `frames` receives."""
    with pytest.raises(ProtocolViolation) as caught:
        for _ in range(frames):
            ws.receive()
    return caught.value.close_code


def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error():
    header = struct.pack("!BBQ", 0x81, 0xFF, 1 << 63) + MASK
    assert violation(socket_over(header), 1) == 1002


def test_a_binary_frame_inside_a_fragmented_text_message_is_a_protocol_error():
    data = client_frame(OP_TEXT, b"[1", fin=False) + client_frame(0x2, b"\x00")
    assert violation(socket_over(data), 1) == 1002


def test_a_message_in_more_fragments_than_allowed_is_refused_1008():
    data = client_frame(OP_TEXT, b"[", fin=False) + client_frame(0x0, b"", fin=False) * 10
    ws = WebSocket(io.BufferedReader(io.BytesIO(data)), RecordingSocket(), 1024, max_fragments=8)
    assert violation(ws, 1) == 1008


def test_every_frame_counts_against_the_budget_control_frames_and_empty_fragments_too():
    data = client_frame(OP_PONG, b"") * 5 + client_frame(OP_TEXT, b"[", fin=False)
    data += client_frame(0x0, b"", fin=False) * 5
    budget = TokenBucket(rate=0.001, burst=10)
    ws = WebSocket(io.BufferedReader(io.BytesIO(data)), RecordingSocket(), 1024, budget=budget)
    for _ in range(5):
        assert ws.receive() == (OP_PONG, b"")
    assert violation(ws, 1) == 4008  # 5 pongs, a first fragment, 4 empty ones, then dry


def test_one_byte_fragments_of_a_whole_message_use_memory_like_the_message():
    size = 64 * 1024
    message = b"[" + b"1" * (size - 2) + b"]"
    data = client_frame(OP_TEXT, message[:1], fin=False)
    data += b"".join(client_frame(0x0, message[i : i + 1], fin=False) for i in range(1, size - 1))
    data += client_frame(0x0, message[-1:])
    reader = io.BufferedReader(io.BytesIO(data))
    ws = WebSocket(reader, RecordingSocket(), size, max_fragments=size)
    tracemalloc.start()
    try:
        opcode, text = ws.receive()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (opcode, text) == (OP_TEXT, message.decode())
    assert peak <= 4 * size, peak  # the bytearray, the decoded text, little else


def test_the_reader_gives_other_greenlets_a_turn_while_frames_are_buffered():
    frames = 10_000
    ws = socket_over(client_frame(OP_PONG, b"") * frames)
    turns = []

    def bystander() -> None:
        while True:
            turns.append(1)
            gevent.sleep(0)

    other = gevent.spawn(bystander)
    try:
        for _ in range(frames):
            ws.receive()
    finally:
        other.kill()
    assert len(turns) >= frames // YIELD_WORK - 1


# -- the whole-frame fast path of `receive` (a frame already read, parsed in one go) ----------
class ChunkedReader:
    """A socket's reads, cut at chosen sizes: a frame split across TCP segments, or many
    frames in one."""

    def __init__(self, data: bytes, sizes: list[int]):
        self.data, self.sizes, self.reads = data, sizes, 0

    def readinto(self, buffer) -> int:
        if not self.data:
            return 0
        size = self.sizes[self.reads % len(self.sizes)]
        self.reads += 1
        chunk, self.data = self.data[:size], self.data[size:]
        buffer[: len(chunk)] = chunk
        return len(chunk)


def everything_received(data: bytes, sizes: list[int], limit: int = 1024) -> list:
    """What `receive` returns for `data` read in pieces of `sizes`, up to and including how
    the stream ended (a close code, or "eof")."""
    ws = WebSocket(ChunkedReader(data, sizes), RecordingSocket(), limit)
    got: list = []
    while True:
        try:
            got.append(ws.receive())
        except ProtocolViolation as exc:
            return [*got, exc.close_code]
        except PeerClosed as exc:
            return [*got, ("closed", exc.code)]
        except ConnectionError:
            return [*got, "eof"]


def extended_length_frame(payload: bytes, width: int) -> bytes:
    """A masked final text frame whose length is written in 16 (width 2) or 64 bits (8),
    whatever its size: RFC 6455 asks for the shortest form, and both paths accept longer."""
    marker, fmt = (126, "!H") if width == 2 else (127, "!Q")
    header = bytes((0x81, 0x80 | marker)) + struct.pack(fmt, len(payload))
    return header + MASK + naive_unmask(payload, MASK)


# Frames whose slicing the fast path could get wrong: the payload's own bytes look like
# headers and JSON delimiters, lengths sit on each side of the 7-bit/16-bit boundaries.
TRICKY_TEXTS = [
    b"",
    b"x",
    b'{"type":"offer","payload":{"sdp":"\\"payload\\": } {"}}',
    '{"a":"\u00e9\u260e \U0001f600","b":"\\u00e9"}'.encode(),
    "\u03c1\x7e\x00\x7f".encode() * 24,  # cf 81 7e 00 7f: a text frame's header bytes
    b"y" * 125,
    b"z" * 126,
    b"w" * 127,  # 16-bit length 127: not the 64-bit marker
    b"v" * 128,
    b"[" + b"1," * 300 + b"1]",
    b"u" * 1024,  # exactly the limit
]


def tricky_stream() -> tuple[bytes, list]:
    data, expected = b"", []
    for text in TRICKY_TEXTS:
        data += client_frame(OP_TEXT, text)
        expected.append((OP_TEXT, text.decode()))
    for text in (b"short", b"t" * 130):  # longer length forms than needed
        data += extended_length_frame(text, 2) + extended_length_frame(text, 8)
        expected += [(OP_TEXT, text.decode())] * 2
    data += client_frame(OP_PING, b"p") + client_frame(OP_TEXT, b'{"k":', fin=False)
    data += client_frame(OP_PONG, b"") + client_frame(0x0, b"1}")
    expected += [(OP_PING, b"p"), (OP_PONG, b""), (OP_TEXT, '{"k":1}')]
    return data, expected


@pytest.mark.parametrize(
    "sizes",
    [[1 << 20], [1], [2], [5, 3], [6], [7, 1, 600], [127], [4096], [13, 700, 1, 1, 64]],
)
def test_frames_are_read_alike_however_the_stream_is_cut(sizes):
    data, expected = tricky_stream()
    assert everything_received(data, sizes) == [*expected, "eof"]


def test_a_stream_cut_in_two_at_any_byte_reads_the_same():
    data, expected = tricky_stream()
    for cut in range(1, len(data)):
        assert everything_received(data, [cut, len(data)]) == [*expected, "eof"], cut


@pytest.mark.parametrize("sizes", [[1 << 20], [1], [6], [9, 1]])
@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (client_frame(OP_TEXT, b"u" * 1025), 1009),  # one byte over the limit, all read
        (extended_length_frame(b"u" * 1025, 2), 1009),
        (client_frame(OP_TEXT, b"plain", masked=False), 1002),
        (client_frame(OP_TEXT, b"x", rsv=0x40), 1002),
        (client_frame(OP_TEXT, b'{"a":"\xff"}'), 1007),  # invalid UTF-8
        (client_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),  # a lone surrogate, encoded
        (client_frame(OP_TEXT, b"[", fin=False) + client_frame(OP_TEXT, b"]"), 1002),
    ],
)
def test_a_bad_frame_after_good_ones_is_refused_however_the_stream_is_cut(bad, code, sizes):
    good = client_frame(OP_TEXT, b"ok") * 3
    after = client_frame(OP_TEXT, b"never read")
    got = everything_received(good + bad + after, sizes)
    assert got == [(OP_TEXT, "ok")] * 3 + [code]


def test_whole_frames_already_read_still_count_against_the_budget():
    data = client_frame(OP_TEXT, b"[]") * 20
    budget = TokenBucket(rate=0.001, burst=10)
    ws = WebSocket(ChunkedReader(data, [1 << 20]), RecordingSocket(), 1024, budget=budget)
    for _ in range(10):
        assert ws.receive() == (OP_TEXT, "[]")
    assert violation(ws, 1) == 4008
