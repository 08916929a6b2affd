"""Idle connections hold no reader greenlet (signaling.transport.reader), against the real
daemon: what a parked connection must still do (deadlines, heartbeats, frames cut anywhere,
a fragmented message across parks, shutdown), that every way of ending one frees its
descriptor, and what it costs in memory."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import struct
import time
from collections.abc import Iterator

import pytest
import requests

from tests.signaling.conftest import Live, live_system, wait_until
from tests.signaling.wsclient import OP_CLOSE, OP_CONTINUATION, OP_TEXT, RawClient, handshake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _metric(live, name: str, labels: str = "") -> float:
    port = live.stack.signaling_ports[0]
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    match = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} not exposed"
    return float(match.group(1))


def _parked(live) -> float:
    return _metric(live, "chimecast_signaling_readers_parked")


def _open(live) -> float:
    return _metric(live, "chimecast_signaling_connections", '{state="open"}')


def _fds(live) -> int:
    return len(os.listdir(f"/proc/{live.daemon.pid}/fd"))


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_idle_connections_park_and_every_one_is_served_when_it_speaks(live):
    people = [live.person("park") for _ in range(10)]
    clients = [live.connect(person) for person in people for _ in range(3)]
    assert wait_until(lambda: _parked(live) >= len(clients), timeout=10), _parked(live)
    assert _parked(live) == _open(live)
    for number, client in enumerate(clients):
        client.send({"type": "ping", "id": number})
    for number, client in enumerate(clients):
        assert client.expect("pong").get("ref") == number
    assert wait_until(lambda: _parked(live) >= len(clients), timeout=10)
    for client in clients:
        client.close()
    assert wait_until(lambda: _open(live) == 0 and _parked(live) == 0, timeout=10)


def test_a_parked_connection_is_pinged_kept_while_it_answers_and_dropped_4010_when_not(live):
    alice, bob = live.person("hb"), live.person("hb")
    started = time.monotonic()  # before either says hello: the 3 s count from their hellos
    answering, silent = live.connect(alice), live.connect(bob)
    silent.auto_pong = False
    try:
        assert silent.wait_closed(timeout=10).code == 4010
        # heartbeat timeout 3 s: the answering client outlived it, parked between its pongs
        assert time.monotonic() - started > 3
        assert answering.pings >= 2
        answering.send({"type": "ping", "id": "still"})
        assert answering.expect("pong")["ref"] == "still"
    finally:
        answering.close()
        silent.close()


def test_frames_dribbled_a_byte_at_a_time_and_fragments_across_parks_are_read_whole(live):
    person = live.person("dribble")
    client = RawClient.connect(live.url)
    hello = json.dumps({"type": "hello", "token": person.token, "id": "h"}).encode()
    mask = os.urandom(4)
    frame = bytes((0x81, 0xFE)) + struct.pack("!H", len(hello)) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(hello))
    for i in range(len(frame)):  # the reader waits mid-frame; it may park only between frames
        client.sock.sendall(frame[i : i + 1])
        if i % 7 == 0:
            time.sleep(0.003)
    assert client.expect("welcome")["ref"] == "h"
    text = json.dumps({"type": "ping", "id": "fragmented"}).encode()
    parts = [text[:5], text[5:12], text[12:]]
    client.send_frame(OP_TEXT, parts[0], fin=False)
    assert wait_until(lambda: _parked(live) >= 1, timeout=5)  # parked with half a message
    time.sleep(0.2)
    client.send_frame(OP_CONTINUATION, parts[1], fin=False)
    time.sleep(0.2)
    client.send_frame(OP_CONTINUATION, parts[2], fin=True)
    assert client.expect("pong")["ref"] == "fragmented"
    client.close()


def test_many_small_frames_in_bursts_and_pauses_all_answered_in_order(live):
    person = live.person("bursts")
    client = live.connect(person)
    rng = random.Random(7)
    sent = 0
    while sent < 120:  # within the live stack's message rate (20/s, burst 40)
        for _ in range(rng.randint(1, 4)):
            client.send({"type": "ping", "id": sent})
            sent += 1
        time.sleep(rng.choice((0, 0.01, 0.05, 0.12, 0.3)))
    refs = [client.expect("pong", timeout=10)["ref"] for _ in range(sent)]
    assert refs == list(range(sent))
    assert not [m for m in client.skipped if m.get("type") == "error"]
    client.close()


def test_every_way_a_parked_connection_ends_frees_its_descriptor(live):
    assert wait_until(lambda: _open(live) == 0, timeout=10)
    before = _fds(live)
    ended = []
    for _round in range(5):
        person = live.person("ends")  # three devices at most per user
        clean = live.connect(person)
        clean.close()  # close frame, then FIN
        reset = live.connect(person)
        reset.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.sock.close()  # RST while parked
        vanished = live.connect(person)
        vanished.sock.shutdown(socket.SHUT_WR)  # FIN without a close frame
        ended.append(vanished)
        sock, status, _head, _rest = handshake(live.url)  # never says hello: 4001
        assert status == 101
        ended.append(RawClient(sock))
    for client in ended:
        assert client.wait_closed(timeout=10) is not None
        client.sock.close()
    assert wait_until(lambda: _open(live) == 0 and _parked(live) == 0, timeout=10)
    assert wait_until(lambda: _fds(live) <= before, timeout=10), (before, _fds(live))
    assert "Traceback" not in live.daemon_log.read_text()


def test_a_parked_connection_is_closed_by_the_server_and_the_daemon_drains(live):
    people = [live.person("drain") for _ in range(4)]
    clients = [live.connect(person) for person in people for _ in range(3)]
    assert wait_until(lambda: _parked(live) >= len(clients), timeout=10)
    started = time.monotonic()
    assert live.stop_daemon(timeout=15) == 0
    assert time.monotonic() - started < 8  # parked readers woke for the close, none held it
    for client in clients:
        closed = client.wait_closed(timeout=5)
        assert closed.code == 1001, closed
    going_away = [m for c in clients for m in c.skipped if m.get("type") == "going_away"]
    assert len(going_away) == len(clients)


def _raw_hello(port: int, token: str) -> socket.socket:
    """Upgrade and hello on a plain socket, past `welcome`; the socket stays open, unread."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )  # fmt: skip
    text = json.dumps({"type": "hello", "token": token}).encode()
    mask = os.urandom(4)
    sock.sendall(
        bytes((0x81, 0xFE)) + struct.pack("!H", len(text)) + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    )  # fmt: skip
    got = b""
    while b'"welcome"' not in got:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    return sock


@pytest.fixture(scope="module")
def quiet(tmp_path_factory) -> Iterator[Live]:
    """A stack of its own whose heartbeats leave silent sockets alone for the whole test."""
    with live_system(
        tmp_path_factory,
        "quiet",
        CHIMECAST_HEARTBEAT_INTERVAL="60",
        CHIMECAST_HEARTBEAT_TIMEOUT="180",
        CHIMECAST_HELLO_TIMEOUT="10",
        CHIMECAST_MAX_CONNECTIONS_PER_USER="20",
    ) as live:
        yield live


def test_idle_authenticated_connections_cost_under_12_kb_each(quiet):
    """Issue 17 goal 3 as a regression guard (17.5 kB each with a reader greenlet apiece)."""
    port = quiet.stack.signaling_ports[0]
    people = [quiet.person("mem") for _ in range(31)]
    warm = [_raw_hello(port, people[0].token) for _ in range(10)]  # first-use allocations
    for sock in warm:
        sock.close()
    assert wait_until(lambda: _open(quiet) == 0, timeout=10)
    pid = quiet.daemon.pid
    before = _rss_kb(pid)
    held = [_raw_hello(port, person.token) for person in people[1:] for _ in range(20)]
    assert wait_until(lambda: _parked(quiet) >= len(held), timeout=15), (
        _parked(quiet),
        _open(quiet),
    )
    per_connection = (_rss_kb(pid) - before) / len(held)
    for sock in held:
        sock.close()
    assert per_connection < 12, f"{per_connection:.1f} kB per idle connection"


def test_a_close_frame_sent_to_a_parked_connection_is_echoed(live):
    client = live.connect(live.person("echo"))
    assert wait_until(lambda: _parked(live) >= 1, timeout=5)
    client.send_frame(OP_CLOSE, struct.pack("!H", 1000))
    assert client.wait_closed(timeout=5).code == 1000


def test_a_busy_connection_keeps_its_reader_and_parks_once_quiet(live):
    client = live.connect(live.person("busy"))
    assert wait_until(lambda: _parked(live) == _open(live) == 1, timeout=5)
    busy_until = time.monotonic() + 1.5
    sent = 0
    seen_reading = False
    while time.monotonic() < busy_until:  # 10 messages a second: busy (BUSY_GAP 1 s)
        client.send({"type": "ping", "id": sent})
        sent += 1
        time.sleep(0.1)
        seen_reading = seen_reading or _parked(live) == 0
    assert seen_reading  # its reader waited between messages instead of parking
    assert _parked(live) == 0  # just after a busy spell: still waiting, not parked
    for number in range(sent):
        assert client.expect("pong")["ref"] == number
    # Parked once quiet: by the sweeper (PARK_AFTER 2 s) or, on this stack's 1 s heartbeat,
    # at the first pong, which comes after a quiet second.
    assert wait_until(lambda: _parked(live) == 1, timeout=6)
    client.send({"type": "ping", "id": "after"})
    assert client.expect("pong")["ref"] == "after"
    client.close()


def test_the_sweeper_parks_a_reader_that_went_quiet_between_heartbeats(quiet):
    """With a 60 s heartbeat no pong comes to park it: the Heartbeats sweeper does."""
    client = quiet.connect(quiet.person("sweep"))
    for number in range(10):  # busy: the reader waits between messages
        client.send({"type": "ping", "id": number})
        time.sleep(0.05)
    for number in range(10):
        assert client.expect("pong")["ref"] == number
    assert _parked(quiet) == 0
    quiet_from = time.monotonic()
    assert wait_until(lambda: _parked(quiet) == 1, timeout=8)
    assert 1.8 < time.monotonic() - quiet_from < 6  # PARK_AFTER 2 s, sweeps 1.25 s apart
    client.send({"type": "ping", "id": "again"})
    assert client.expect("pong")["ref"] == "again"
    client.close()
