"""The real daemon over real sockets: handshake, hello, framing limits, heartbeats, shutdown."""

from __future__ import annotations

import signal
import struct
import threading
import time

import pytest
import requests

from tests.signaling.conftest import wait_until
from tests.signaling.wsclient import OP_BINARY, OP_CLOSE, OP_TEXT, RawClient, Refused, handshake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def test_healthz_answers_json(live):
    port = live.stack.signaling_ports[0]
    response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_hello_with_session_token_gets_welcome(live):
    alice = live.person("alice")
    client = RawClient.connect(live.url)
    welcome = client.hello(alice.token)
    assert welcome["ref"] == "hello"
    assert welcome["protocol"] == 1
    assert welcome["user"]["username"] == alice.name
    assert isinstance(welcome["ice_servers"], list) and welcome["calls"] == []
    assert welcome["heartbeat"] == {"ping_interval": 1.0, "timeout": 3.0}
    client.send({"type": "ping", "id": 5})
    assert client.recv() == {"type": "pong", "ref": 5}


def test_bad_token_closes_4002(live):
    client = RawClient.connect(live.url)
    client.send({"type": "hello", "token": "ccs_" + "x" * 43})
    assert client.wait_closed().code == 4002


def test_no_hello_in_time_closes_4001(live):
    client = RawClient.connect(live.url)
    started = time.monotonic()
    closed = client.wait_closed(timeout=5)
    assert closed.code == 4001
    assert 0.9 < time.monotonic() - started < 3


def test_a_first_message_other_than_hello_closes_4001(live):
    client = RawClient.connect(live.url)
    client.send({"type": "ping"})
    assert client.wait_closed().code == 4001


@pytest.mark.parametrize(
    ("origin", "status"),
    [(None, 101), ("web", 101), ("http://evil.example", 403)],
    ids=["no-origin", "web-app-origin", "foreign-origin"],
)
def test_origin_check_at_the_handshake(live, origin, status):
    origin = live.stack.web_url if origin == "web" else origin
    sock, got, _head, _rest = handshake(live.url, origin=origin)
    sock.close()
    assert got == status


def test_malformed_websocket_key_gets_400_not_a_server_error(live):
    sock, status, _head, _rest = handshake(live.url, key="not base64 at all!!")
    sock.close()
    assert status == 400
    assert "Traceback" not in live.daemon_log.read_text()


def test_oversized_frame_closes_1009_without_stalling_other_connections(live):
    alice, bob = live.person("alice"), live.person("bob")
    attacker, bystander = live.connect(alice), live.connect(bob)
    latencies: list[float] = []
    stop = threading.Event()

    def keep_pinging() -> None:
        while not stop.is_set():
            sent = time.monotonic()
            bystander.send({"type": "ping", "id": "t"})
            bystander.expect("pong")
            latencies.append(time.monotonic() - sent)
            time.sleep(0.06)  # stay under the rate limit (20/s)

    pinger = threading.Thread(target=keep_pinging)
    pinger.start()
    try:
        deadline = time.monotonic() + 5
        while len(latencies) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # the bystander is being answered before the attack starts
        # Claims 1 GiB and starts sending: the daemon must refuse it from the header alone.
        attacker.send_frame(OP_TEXT, b"x" * 256 * 1024, length=1 << 30)
        closed = attacker.wait_closed()
        time.sleep(0.5)
    finally:
        stop.set()
        pinger.join(5)
    assert closed.code == 1009
    assert len(latencies) > 5 and max(latencies) < 0.25, latencies


def test_message_just_under_the_limit_is_read(live):
    client = live.connect(live.person())
    filler = "x" * (64 * 1024 - 100)
    client.send({"type": "ping", "id": "big", "filler": filler})
    assert client.expect("pong") == {"type": "pong", "ref": "big"}


def test_binary_frame_closes_1003(live):
    client = live.connect(live.person())
    client.send_frame(OP_BINARY, b"\x00\x01\x02")
    assert client.wait_closed().code == 1003


def test_bad_messages_get_errors_and_repeated_invalid_json_closes_1007(live):
    client = live.connect(live.person())
    client.send({"type": "teleport", "id": "u"})
    assert client.recv()["code"] == "unknown_type"
    client.send({"type": "accept", "call_id": "seven", "id": "v"})
    assert client.recv()["code"] == "invalid_message"
    for _ in range(4):
        client.send("{not json")
        assert client.recv()["code"] == "invalid_json"
    client.send("{still not json")
    assert client.wait_closed().code == 1007


def test_a_client_that_never_answers_pings_is_dropped_4010(live):
    client = live.connect(live.person())
    client.auto_pong = False
    started = time.monotonic()
    closed = client.wait_closed(timeout=8)
    assert client.pings >= 1
    assert closed.code == 4010
    assert 2.5 < time.monotonic() - started < 6


def test_a_client_that_answers_pings_stays_connected(live):
    client = live.connect(live.person())
    deadline = time.monotonic() + 4.5  # longer than the 3 s heartbeat timeout
    while time.monotonic() < deadline:
        try:
            client.recv(timeout=0.5)  # answers the daemon's pings, like a browser
        except TimeoutError:
            pass
    assert client.pings >= 2
    client.send({"type": "ping", "id": "still"})
    assert client.expect("pong", ref="still")


def test_message_flood_gets_rate_limited_then_closed_4008(live):
    client = live.connect(live.person())
    for index in range(200):
        try:
            client.send({"type": "ping", "id": index})
        except OSError:
            break
    closed = client.wait_closed()
    assert closed.code == 4008
    codes = [m.get("code") for m in client.skipped if m["type"] == "error"]
    assert codes and set(codes) == {"rate_limited"}
    assert len([m for m in client.skipped if m["type"] == "pong"]) >= 39  # burst 40, minus hello


def test_connections_over_the_per_user_cap_close_4004(live):
    carol = live.person("carol")
    for _ in range(3):
        live.connect(carol)
    extra = RawClient.connect(live.url)
    extra.send({"type": "hello", "token": carol.token})
    assert extra.wait_closed().code == 4004


def test_client_close_is_answered_with_the_same_code(live):
    client = live.connect(live.person())
    client.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
    assert client.wait_closed().code == 1000


def test_sigterm_tells_every_client_going_away_then_1001_and_exits(live):
    clients = [live.connect(live.person()) for _ in range(3)]
    unauthenticated = RawClient.connect(live.url)
    started = time.monotonic()
    live.daemon.send_signal(signal.SIGTERM)
    for client in clients:
        assert client.expect("going_away")["reason"] == "shutdown"
        assert client.wait_closed().code == 1001
    assert unauthenticated.wait_closed().code == 1001
    assert live.daemon.wait(10) == 0
    assert time.monotonic() - started < 5
    with pytest.raises((Refused, OSError)):
        RawClient.connect(live.url, timeout=1)
    assert wait_until(lambda: "stopped" in live.daemon_log.read_text())


def test_a_hello_sent_with_the_upgrade_request_is_not_lost(live):
    """A client may send its first frames without waiting for the 101: the bytes the
    handshake's reader already took must reach the WebSocket."""
    import base64
    import json
    import os
    import socket

    alice = live.person("alice")
    port = live.stack.signaling_ports[0]
    request = (
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    payload = json.dumps({"type": "hello", "id": "hello", "token": alice.token}).encode()
    mask = os.urandom(4)
    frame = bytes((0x81, 0x80 | len(payload))) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(request + frame)  # one packet: the hello is behind the request
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    client = RawClient(sock, rest)
    welcome = client.recv()
    assert welcome["type"] == "welcome" and welcome["user"]["username"] == alice.name


def test_frames_cut_across_segments_or_batched_in_one_are_all_read_in_order(live):
    """The reader waits for the socket after a read that drained it, and parses every
    frame a read brought: a frame dribbled in pieces (a pause at every cut) and frames
    sent in one segment must all be answered, in order."""
    import json
    import os

    alice = live.person("alice")
    client = RawClient.connect(live.url)
    client.hello(alice.token)

    def frame(ref: int, pad: int = 0) -> bytes:
        text = json.dumps({"type": "ping", "id": ref, "pad": '}"payload"' * pad}).encode()
        mask = os.urandom(4)
        head = (
            bytes((0x81, 0x80 | len(text)))
            if len(text) < 126
            else (struct.pack("!BBH", 0x81, 0xFE, len(text)))
        )
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))

    batch = b"".join(frame(ref) for ref in range(1, 6))
    long = frame(6, pad=30)  # a 16-bit length
    with client._send_lock:
        client.sock.sendall(batch)  # five frames in one segment
        for cut in (1, 2, 4, 8, 100, len(long) - 1):  # header, mask, payload, last byte
            piece, long = long[:cut], long[cut:]
            client.sock.sendall(piece)
            time.sleep(0.05)
        seventh = frame(7)
        client.sock.sendall(long + seventh[:3])  # a frame's end and the next one's start
        time.sleep(0.05)
        client.sock.sendall(seventh[3:] + frame(8))
    assert [client.recv()["ref"] for _ in range(8)] == [1, 2, 3, 4, 5, 6, 7, 8]
