"""One connection's reader, writer and watchdog over gevent socketpairs (explicit gevent, no
monkey-patching): slow readers, deadlines, and nothing before `welcome`."""

from __future__ import annotations

import json
import socket
import struct
import time

import gevent
import pytest
from gevent import socket as gsocket

from signaling.state.store import ConnectInfo
from signaling.transport.peer import Peer
from signaling.transport.websocket import WebSocket
from tests.signaling.fakes import make_services
from tests.signaling.test_websocket_framing import client_frame

pytestmark = pytest.mark.timeout(20)


class Client:
    """The far end of a socketpair, speaking client frames."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, message: dict) -> None:
        self.sock.sendall(client_frame(0x1, json.dumps(message).encode()))

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def frame(self, timeout: float = 3) -> tuple[int, bytes]:
        with gevent.Timeout(timeout):
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            return first & 0x0F, self._read(length)

    def message(self, timeout: float = 3) -> dict:
        while True:
            opcode, payload = self.frame(timeout)
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                return {"closed": struct.unpack("!H", payload[:2])[0]}


def start_peer(services, small_buffers: bool = False) -> tuple[Peer, Client, gevent.Greenlet]:
    server, client = gsocket.socketpair()
    if small_buffers:
        for sock, option in ((server, socket.SO_SNDBUF), (client, socket.SO_RCVBUF)):
            sock.setsockopt(socket.SOL_SOCKET, option, 4096)
    ws = WebSocket(server.makefile("rb"), server, services.settings.max_message_bytes)
    peer = Peer(ws, services)
    return peer, Client(client), gevent.spawn(peer.run)


def test_no_hello_in_time_is_closed_4001():
    services, _store, _timers = make_services(hello_timeout=0.2, close_linger=0.3)
    peer, client, running = start_peer(services)
    assert client.message() == {"closed": 4001}
    running.join(3)
    assert running.dead and peer.close_code == 4001


def test_silent_client_is_pinged_then_dropped_4010():
    services, store, _timers = make_services(
        heartbeat_interval=0.1, heartbeat_timeout=0.4, close_linger=0.3
    )
    store.user("alice", 1, 11)
    peer, client, running = start_peer(services)
    client.send({"type": "hello", "token": "token-alice-11"})
    assert client.message()["type"] == "welcome"
    opcodes = []
    while True:
        opcode, payload = client.frame()
        opcodes.append(opcode)
        if opcode == 0x8:
            break
    assert 0x9 in opcodes  # pinged first
    assert struct.unpack("!H", payload[:2]) == (4010,)
    running.join(3)
    assert len(services.hub) == 0


def test_a_reader_that_stops_reading_is_dropped_4009_and_others_are_unaffected():
    services, store, _timers = make_services(send_queue_size=8, write_timeout=0.3, close_linger=0.3)
    store.user("alice", 1, 11)
    store.user("bob", 2, 21)
    stuck, stuck_client, stuck_run = start_peer(services, small_buffers=True)
    fine, fine_client, _fine_run = start_peer(services)
    stuck_client.send({"type": "hello", "token": "token-alice-11"})
    fine_client.send({"type": "hello", "token": "token-bob-21"})
    assert fine_client.message()["type"] == "welcome"
    gevent.sleep(0.1)
    big = {"type": "pong", "ref": "x" * 60_000}
    started = time.monotonic()
    sent = 0
    while not stuck.closing and sent < 1000:
        stuck.send(big)  # never blocks the sender, whatever the client does
        sent += 1
        gevent.sleep(0)
    assert time.monotonic() - started < 0.5
    assert stuck.close_code == 4009
    fine_client.send({"type": "ping", "id": "alive"})
    assert fine_client.message(timeout=0.5) == {"type": "pong", "ref": "alive"}
    stuck_run.join(5)
    assert stuck_run.dead
    assert services.hub.count_user(1) == 0 and services.hub.count_user(2) == 1


def test_events_sent_while_welcome_is_prepared_arrive_after_it():
    services, store, _timers = make_services()
    store.user("alice", 1, 11)
    plain_connect = store.connect

    def connect_while_an_event_arrives(who, conn_id, node_id) -> ConnectInfo:
        services.hub.send_to_user(
            who.user_id, {"type": "presence", "call_id": 1, "user": "b", "presence": "x"}
        )
        return plain_connect(who, conn_id, node_id)

    store.connect = connect_while_an_event_arrives  # type: ignore[method-assign]
    _peer, client, _running = start_peer(services)
    client.send({"type": "hello", "token": "token-alice-11"})
    assert client.message()["type"] == "welcome"
    assert client.message()["type"] == "presence"
