"""Write-through sending over gevent socketpairs: order, one writer at a time, close after
the backlog, and slow readers dropped (4009) without making anyone else wait."""

from __future__ import annotations

import time

import gevent
import pytest

from signaling.errors import CloseCode
from signaling.state.call_cache import ACTIVE
from tests.signaling.fakes import make_services
from tests.signaling.test_peer import Client, start_peer

pytestmark = pytest.mark.timeout(30)


def numbered(index: int, size: int) -> dict:
    return {"type": "pong", "ref": f"{index}:" + "x" * size}


def index_of(message: dict) -> int:
    return int(message["ref"].split(":", 1)[0])


def welcomed(services, store, small_buffers: bool = False):
    """A peer that has said hello as alice (user 1) and whose client has read `welcome`."""
    if "token-alice-11" not in store.tokens:
        store.user("alice", 1, 11)
    peer, client, running = start_peer(services, small_buffers=small_buffers)
    client.send({"type": "hello", "token": "token-alice-11"})
    assert client.message()["type"] == "welcome"
    return peer, client, running


def read_all(client: Client, count: int, pause: float = 0.0) -> list[dict]:
    """Read `count` text messages, pausing between them like a slow client."""
    received = []
    while len(received) < count:
        received.append(client.message(timeout=5))
        if pause:
            gevent.sleep(pause)
    return received


def test_an_idle_connection_writes_through_without_a_writer_greenlet():
    services, store, _timers = make_services()
    peer, client, _running = welcomed(services, store)
    assert peer.send(numbered(0, 10))
    assert index_of(client.message()) == 0
    assert peer._out.writing_through


def test_messages_keep_their_order_across_direct_writes_and_the_backlog():
    services, store, _timers = make_services(send_queue_size=64)
    peer, client, _running = welcomed(services, store, small_buffers=True)
    reader = gevent.spawn(read_all, client, 60, 0.002)
    paths = set()
    for index in range(60):
        # Big frames fill the socket (the rest goes to the writer greenlet); the small ones
        # after them must wait their turn rather than be written in between.
        assert peer.send(numbered(index, 20_000 if index % 3 == 0 else 20))
        paths.add(peer._out.writing_through)
        if index % 10 == 9:
            gevent.sleep(0.05)  # let the backlog drain, so direct writes resume
            paths.add(peer._out.writing_through)
    received = reader.get(timeout=10)
    assert [index_of(message) for message in received] == list(range(60))
    assert paths == {True, False}  # both paths were taken
    assert not peer.closing


def test_many_senders_share_one_writer_and_each_keeps_its_order():
    services, store, _timers = make_services()
    peer, client, _running = welcomed(services, store, small_buffers=True)

    def sender(who: int) -> None:
        for index in range(30):
            assert peer.send(numbered(who * 1000 + index, 16_000))
            gevent.sleep(0)

    senders = [gevent.spawn(sender, who) for who in range(4)]
    received = read_all(client, 120, 0.001)
    gevent.joinall(senders, timeout=5)
    # Two greenlets writing one socket at once would raise ConcurrentObjectUseError (or
    # interleave bytes, which breaks the frames the client just parsed).
    assert all(greenlet.successful() for greenlet in senders)
    for who in range(4):
        mine = [index_of(m) for m in received if index_of(m) // 1000 == who]
        assert mine == [who * 1000 + index for index in range(30)]
    assert not peer.closing


def test_close_frame_follows_everything_already_queued():
    services, store, _timers = make_services(close_linger=3)
    peer, client, running = welcomed(services, store, small_buffers=True)
    for index in range(5):
        peer.send(numbered(index, 30_000))
    assert not peer._out.writing_through  # a backlog exists: the close frame must wait
    peer.close(CloseCode.GOING_AWAY, "bye")
    assert not peer.send(numbered(99, 10))  # nothing new once closing
    received = [client.message() for _ in range(6)]
    assert [index_of(m) for m in received[:5]] == list(range(5))
    assert received[5] == {"closed": CloseCode.GOING_AWAY}
    client.sock.close()
    running.join(3)
    assert running.dead and len(services.hub) == 0


def test_a_write_that_takes_longer_than_the_write_timeout_drops_the_reader_4009():
    services, store, _timers = make_services(write_timeout=0.3, close_linger=0.3)
    peer, _client, running = welcomed(services, store, small_buffers=True)
    started = time.monotonic()
    assert peer.send(numbered(0, 60_000))  # one frame, far below the backlog bound
    assert time.monotonic() - started < 0.1  # the sender did not wait for the write
    running.join(3)
    assert running.dead
    assert peer.close_code == CloseCode.TOO_SLOW
    assert len(services.hub) == 0


def test_relaying_to_a_client_that_stops_reading_never_makes_the_sender_wait():
    services, store, _timers = make_services(send_queue_size=4, write_timeout=5, close_linger=0.5)
    alice = store.user("alice", 1, 11)
    bob = store.user("bob", 2, 21)
    call_id = store.add_call(alice, bob, state=ACTIVE, callee_session_id=21)
    stuck, _stuck_client, stuck_run = welcomed(services, store, small_buffers=True)
    _bob_peer, bob_client, _bob_run = start_peer(services)
    bob_client.send({"type": "hello", "token": "token-bob-21"})
    assert bob_client.message()["type"] == "welcome"
    sdp = "v=0\r\n" + "a=x-pad:" + "y" * 30_000 + "\r\n"
    slowest = 0.0
    for index in range(12):
        offer = {"type": "offer", "call_id": call_id, "to": "alice"}
        bob_client.send({**offer, "payload": {"type": "offer", "sdp": sdp}})
        started = time.monotonic()
        bob_client.send({"type": "ping", "id": f"p{index}"})
        while bob_client.message(timeout=1).get("type") != "pong":
            pass  # whatever else bob is told (alice leaving) is not the point here
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.5  # bob's own reader never waited for alice's socket
    assert stuck.close_code == CloseCode.TOO_SLOW  # long before the 5 s write timeout
    stuck_run.join(3)
    assert stuck_run.dead and services.hub.count_user(2) == 1


def test_a_closed_connection_is_freed_at_once_not_by_the_cycle_collector():
    """The writer refers back to its connection weakly; a cycle kept every closed Peer (and
    its socket and buffers) until a full garbage collection (RSS grew 6 MB over 10 runs)."""
    import gc
    import weakref

    services, store, _timers = make_services(close_linger=0.3)
    peer, client, running = welcomed(services, store)
    client.sock.close()  # the client vanishes
    running.join(5)
    assert running.dead
    gone = weakref.ref(peer)
    gc.disable()
    try:
        del peer, running
        assert gone() is None, gc.get_referrers(gone())
    finally:
        gc.enable()


def test_frames_sent_during_one_loop_turn_leave_in_one_write_in_order():
    services, store, _timers = make_services()
    peer, client, _running = welcomed(services, store)
    writes = []

    class Recorded:  # observes the socket writes; the real write still happens
        def __init__(self, ws):
            self.ws = ws

        def write_nowait(self, data):
            writes.append(len(data))
            return self.ws.write_nowait(data)

        def __getattr__(self, name):
            return getattr(self.ws, name)

    peer._out._ws = Recorded(peer.ws)
    for index in range(10):  # one greenlet, no yield: one turn
        assert peer.send(numbered(index, 100))
    assert writes == []  # nothing written before the turn ends
    assert [index_of(client.message()) for _ in range(10)] == list(range(10))
    assert len(writes) == 1 and writes[0] > 10 * 100
    assert peer._out.writing_through
