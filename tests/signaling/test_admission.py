"""Admission control for hellos (signaling.state.admission) and the batches that serve them
in order (signaling.state.batches), with a hand-driven clock and no network."""

from __future__ import annotations

import gevent
import gevent.socket
import pytest

from signaling.client.socket import retry_after
from signaling.state.admission import (
    JITTER,
    MAX_RETRY,
    MIN_RETRY,
    PROBE,
    Admission,
    busy_reason,
    client_hung_up,
    input_waiting,
)
from signaling.state.batches import Abandoned, Batch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def admission(
    target: float = 1.0, floor: int = 4, jitter: float = 0.5, moving: float = 0.0
) -> tuple[Admission, Clock]:
    """By default without the moving-queue rule, so that the limit alone decides."""
    clock = Clock()
    return Admission(target, floor=floor, moving=moving, clock=clock, rng=lambda: jitter), clock


def test_a_burst_on_a_daemon_that_keeps_up_is_never_shed_whatever_the_limit():
    """The cold daemon's limit is the floor; a burst of 1,000 pairs (2,000 hellos) was
    shed 935 of 1,000 pairs on a quiet machine until a moving queue admitted regardless."""
    adm, clock = admission(target=5.0, floor=4, moving=0.2)  # moving: oldest < 1 s
    waiting = []
    for _ in range(2000):
        conn = object()
        assert adm.enter(conn) is None
        waiting.append(conn)
        clock.now += 0.0004  # 2,000 arrive in 0.8 s
        if len(waiting) > 50:  # served ~ as fast as they come, 50 behind
            adm.leave(waiting.pop(0))
    assert adm.shed_total == 0


def test_a_queue_that_stopped_moving_is_limited_again():
    adm, clock = admission(target=5.0, floor=4, moving=0.2)
    stuck = [object() for _ in range(10)]
    assert [adm.enter(c) for c in stuck] == [None] * 10  # moving: past the floor
    clock.now += 1.0  # the oldest has waited MOVING x target: no longer moving
    assert adm.enter(object()) is not None
    for conn in stuck:
        adm.leave(conn)
    assert adm.enter(object()) is None  # answered: moving again


def test_hellos_under_the_floor_are_admitted_before_any_rate_is_known():
    adm, _clock = admission(floor=4)
    assert [adm.enter(object()) for _ in range(4)] == [None] * 4
    assert adm.waiting == 4
    assert adm.enter(object()) is not None  # the fifth is shed
    assert adm.waiting == 4 and adm.shed_total == 1


def test_a_shed_hello_is_not_held_and_leaving_frees_a_place():
    adm, _clock = admission(floor=1)
    first, second = object(), object()
    assert adm.enter(first) is None
    assert adm.enter(second) is not None
    assert first in adm and second not in adm
    adm.leave(first)
    adm.leave(second)  # never admitted: leaving is harmless and counts nothing
    assert adm.waiting == 0
    assert adm.enter(second) is None


def test_the_limit_follows_the_measured_service_rate():
    adm, clock = admission(target=2.0, floor=4)
    # 50 hellos served over 1 busy second, 4 at a time: 50 per second.
    served = 0
    while served < 50:
        batch = [object() for _ in range(4)]
        for conn in batch:
            assert adm.enter(conn) is None
        clock.now += 0.08
        for conn in batch:
            adm.leave(conn)
        served += 4
    adm.enter(object())  # closes the sample (>= 1 busy second)
    assert adm.rate == pytest.approx(50.0)  # 4 per 0.08 s
    assert adm.limit() == int(adm.rate * 2.0)  # two seconds of service may wait


def test_idle_time_does_not_dilute_the_rate():
    adm, clock = admission(floor=100)
    for _ in range(40):
        conn = object()
        adm.enter(conn)
        clock.now += 0.2  # served in 0.2 s ...
        adm.leave(conn)
        clock.now += 60.0  # ... then a minute with nobody waiting
    adm.enter(object())
    assert adm.rate == pytest.approx(5.0)


def serve(adm: Admission, clock: Clock, rate: float, seconds: float = 1.0) -> None:
    """Serve hellos one at a time at `rate` per second for `seconds` busy seconds."""
    for _ in range(round(rate * seconds)):
        conn = object()
        assert adm.enter(conn) is None
        clock.now += 1 / rate
        adm.leave(conn)


def test_the_first_rate_is_measured_after_a_floor_of_hellos_not_a_whole_second():
    adm, clock = admission(target=5.0, floor=16)
    serve(adm, clock, rate=1000, seconds=0.016)  # 16 hellos in 16 ms
    adm.enter(object())  # the next arrival takes the sample
    assert adm.rate == pytest.approx(1000)
    assert adm.limit() in (4999, 5000)  # 5 s of service


def test_before_the_rate_is_known_shed_clients_come_back_soon():
    adm, _clock = admission(floor=2, jitter=1.0)
    for _ in range(2):
        adm.enter(object())
    hints = [adm.enter(object()) for _ in range(100)]
    assert hints[-1] == 2 * MIN_RETRY  # jitter over MIN_RETRY, however many were shed


def test_a_first_batch_that_takes_long_spreads_the_retries_over_its_time_so_far():
    adm, clock = admission(floor=2, jitter=1.0)
    for _ in range(2):
        adm.enter(object())
    clock.now += 4.0  # nothing served yet: the rate is still unknown
    assert adm.enter(object()) == MIN_RETRY + 4.0


def test_shed_clients_get_retry_slots_spread_at_the_pace_the_daemon_serves():
    adm, clock = admission(target=0.1, floor=2, jitter=0.5)  # jitter 0.5: none
    serve(adm, clock, rate=10)  # 10 per second, 0.1 s of queue: the floor of 2 rules
    for _ in range(2):
        assert adm.enter(object()) is None
    hints = [adm.enter(object()) for _ in range(40)]
    # Slots 1 / (PROBE x 10 per s) = 0.05 s apart, after MIN_RETRY (the 2 waiting: 0.2 s).
    assert MIN_RETRY <= hints[0] <= MIN_RETRY + 0.1
    assert hints[-1] == pytest.approx(MIN_RETRY + 40 / (PROBE * 10), abs=0.1)
    assert hints == sorted(hints)


def test_retry_slots_are_jittered_and_capped():
    low, low_clock = admission(target=0.1, floor=2, jitter=0.0)
    high, high_clock = admission(target=0.1, floor=2, jitter=1.0)
    for adm, clock in ((low, low_clock), (high, high_clock)):
        serve(adm, clock, rate=10)
        for _ in range(2):
            adm.enter(object())
        for _ in range(20):
            adm.enter(object())
    # The 21st slot is 2.05 s out: -10 % and +10 %.
    assert low.retry_hint() == pytest.approx(2.05 * (1 - JITTER), abs=0.06)
    assert high.retry_hint() == pytest.approx(2.10 * (1 + JITTER), abs=0.06)
    for _ in range(2000):
        assert MIN_RETRY <= high.retry_hint() <= MAX_RETRY


def test_demand_past_the_last_slot_is_spread_not_piled_on_the_cap():
    adm, clock = admission(target=0.1, floor=2, jitter=0.5)
    serve(adm, clock, rate=10)
    for _ in range(2):
        adm.enter(object())
    hints = [adm.enter(object()) for _ in range(2000)]  # 20 per second of slots: 100 s
    assert max(hints) <= MAX_RETRY
    past = hints[round((MAX_RETRY - MIN_RETRY) * PROBE * 10) + 1 :]
    assert past and all(h == MAX_RETRY * 0.75 for h in past)  # jitter 0.5: the middle
    rng = iter([0.0, 1.0])
    adm._rng = lambda: next(rng)
    assert [adm.retry_hint(), adm.retry_hint()] == [MAX_RETRY / 2, MAX_RETRY]


def test_retry_slots_given_out_long_ago_do_not_push_new_ones_out():
    adm, clock = admission(target=0.1, floor=2, jitter=0.5)
    serve(adm, clock, rate=10)
    for _ in range(2):
        adm.enter(object())
    for _ in range(200):
        adm.enter(object())
    assert adm.retry_hint() > 10
    clock.now += 60
    assert adm.enter(object()) == pytest.approx(MIN_RETRY + 2 / (PROBE * 10), abs=0.1)


def test_a_slowing_service_lowers_the_rate_sample_by_sample():
    adm, clock = admission(target=0.1, floor=2, jitter=0.5)
    serve(adm, clock, rate=10)
    stuck = [object(), object()]
    for conn in stuck:
        adm.enter(conn)
    clock.now += 2.0
    for conn in stuck:
        adm.leave(conn)  # two (the floor) served in 2 s: a sample of 1 per second
    adm.enter(object())
    assert adm.rate == pytest.approx((10 + 1) / 2)


def test_a_batch_slower_than_the_window_is_measured_when_it_ends():
    adm, clock = admission(floor=100)
    batch = [object() for _ in range(60)]
    for conn in batch:
        adm.enter(conn)
    clock.now += 3.0  # one job of 60 takes 3 s: no sample of "0 per second" meanwhile
    assert adm.enter(object()) is None and adm.rate is None
    for conn in batch:
        adm.leave(conn)
    adm.enter(object())
    assert adm.rate == pytest.approx(60 / 3.0)


def test_a_sample_is_not_cut_after_the_first_few_answers_of_a_batch():
    adm, clock = admission(floor=100)
    batch = [object() for _ in range(60)]
    for conn in batch:
        adm.enter(conn)
    clock.now += 3.0
    adm.leave(batch[0])  # other readers may run between the answers of one batch
    adm.enter(object())
    assert adm.rate is None  # not 1 per 3 s


def test_the_close_reason_carries_a_hint_the_clients_read():
    reason = busy_reason(2.345)
    assert reason == "server busy, retry after 2.3 s"
    assert len(reason.encode()) <= 123  # a close frame's reason limit
    assert retry_after(1013, reason) == 2.3
    assert retry_after(1011, reason) is None  # only 1013 carries a hint
    assert retry_after(1013, "something else") is None


def test_a_connection_without_a_socket_has_not_hung_up_unless_closing():
    class Conn:
        closing = False

    conn = Conn()
    assert not client_hung_up(conn)
    conn.closing = True
    assert client_hung_up(conn)


def test_peeking_a_real_socket_tells_input_waiting_from_a_client_gone():
    class Ws:
        def __init__(self, sock) -> None:
            self.sock = sock

    class Conn:
        closing = False

        def __init__(self, sock) -> None:
            self.ws = Ws(sock)

    ours, theirs = gevent.socket.socketpair()
    conn = Conn(ours)
    assert not input_waiting(conn) and not client_hung_up(conn)  # nothing, and no waiting
    theirs.sendall(b"\x81\x85")  # the start of a text frame
    assert input_waiting(conn) and not client_hung_up(conn)
    assert ours.recv(2) == b"\x81\x85"  # peeking read nothing
    theirs.sendall(b"\x88\x80")  # a close frame next
    assert client_hung_up(conn)
    ours.recv(2)
    theirs.close()  # end of input
    assert client_hung_up(conn)
    ours.close()


# -- the batches: served in order, the departed skipped without work ------------------------
def test_batch_serves_in_arrival_order_and_skips_the_unwanted_without_running_them():
    seen: list[list[int]] = []

    def run_many(items: list[int]) -> list[int]:
        seen.append(items)
        return [item * 10 for item in items]

    batch = Batch[int, int](run_many, limit=3)
    results: dict[int, object] = {}

    def ask(item: int) -> None:
        try:
            results[item] = batch(item, (lambda: item != 2))
        except Abandoned:
            results[item] = "abandoned"

    gevent.joinall([gevent.spawn(ask, i) for i in range(6)], timeout=5)
    assert results == {0: 0, 1: 10, 2: "abandoned", 3: 30, 4: 40, 5: 50}
    assert seen == [[0, 1, 3], [4, 5]]  # FIFO, batches of 3, 2 never reached run_many


def test_batch_drops_a_request_whose_requester_stopped_waiting():
    seen: list[list[str]] = []
    gate = gevent.event.Event()

    def run_many(items: list[str]) -> list[str]:
        seen.append(items)
        gate.wait()
        return items

    batch = Batch[str, str](run_many)
    first = gevent.spawn(batch, "first")
    gevent.sleep(0)  # the worker takes "first" and blocks in run_many

    def impatient() -> None:
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.01):
            batch("impatient")

    gevent.spawn(impatient).join()
    patient = gevent.spawn(batch, "patient")
    gevent.sleep(0)
    gate.set()
    assert first.get(timeout=5) == "first" and patient.get(timeout=5) == "patient"
    assert seen == [["first"], ["patient"]]


def test_hellos_that_ran_out_of_time_do_not_count_as_served():
    adm, clock = admission(floor=32)
    batch = [object() for _ in range(32)]
    for conn in batch:
        adm.enter(conn)
    clock.now += 2.0
    for conn in batch:
        adm.leave(conn, served=False)  # overdue: closed 1013, not served
    assert adm.waiting == 0
    adm.enter(object())
    assert adm.rate is None  # no sample of "16 per second" from hellos nobody served


def test_an_answered_hello_is_not_kept_alive_by_the_admission():
    """A closed connection must be freed at once (tests/signaling/test_peer_writing.py): the
    moving-queue bookkeeping once held every admitted connection until the next hello."""
    import gc
    import weakref

    class Conn:
        pass

    adm, clock = admission(target=5.0, floor=4, moving=0.2)
    conns = [Conn() for _ in range(3)]
    refs = [weakref.ref(conn) for conn in conns]
    for conn in conns:
        assert adm.enter(conn) is None
    for conn in conns:
        adm.leave(conn)
    gc.disable()
    try:
        del conn, conns
        assert [ref() for ref in refs] == [None, None, None]
    finally:
        gc.enable()
    assert adm.enter(Conn()) is None and adm.waiting == 1
