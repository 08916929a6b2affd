"""The daemon's call-membership cache: loads, updates, and what it keeps of ended calls."""

from __future__ import annotations

from signaling.state.call_cache import ACTIVE, ENDED, RINGING, CallCache, Membership


def membership(call_id: int, state: str = ACTIVE) -> Membership:
    return Membership(call_id, state, 1, 2, "alice", "bob", 11, 22, {"id": call_id})


class Loader:
    def __init__(self, state: str = ACTIVE) -> None:
        self.state, self.loads = state, 0

    def __call__(self, call_id: int) -> Membership:
        self.loads += 1
        return membership(call_id, self.state)


def test_an_ended_call_keeps_only_its_participants_and_needs_no_load():
    load = Loader()
    cache = CallCache(load)
    cache.put(membership(7))
    cache.next_seq(7, 1)
    cache.ended(7)
    kept = cache.get(7)
    assert (kept.state, kept.caller_id, kept.callee_id) == (ENDED, 1, 2)
    assert (kept.caller, kept.call) == (None, {})  # no record, no names
    assert load.loads == 0
    assert cache.next_seq(7, 1) == 1  # the counters went with it


def test_ended_calls_are_forgotten_beyond_a_fixed_number():
    """However many calls a daemon sees, what it keeps of ended ones stays bounded."""
    cache = CallCache(Loader(), ended_capacity=256)
    for call_id in range(1, 1001):
        cache.put(membership(call_id))
        cache.ended(call_id)
    assert cache.states() == [ENDED] * 256
    assert 1000 in cache and 744 not in cache


def test_an_ended_call_read_from_the_database_is_not_cached_in_full():
    load = Loader(state=ENDED)
    cache = CallCache(load)
    assert cache.get(9).state == ENDED and load.loads == 1
    assert cache.get(9).caller is None and load.loads == 1  # the slim entry answers now
    assert cache.states() == [ENDED]


def test_a_ringing_entry_is_read_again_because_an_accept_may_be_in_flight():
    load = Loader(state=ACTIVE)
    cache = CallCache(load)
    cache.put(membership(3, RINGING))
    assert cache.get(3).state == ACTIVE and load.loads == 1
    assert cache.get(3).state == ACTIVE and load.loads == 1
