"""The replica of where other daemons' connections are (signaling.state.registry)."""

from __future__ import annotations

from signaling.state.registry import Registry


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _registry() -> tuple[Registry, Clock]:
    clock = Clock()
    return Registry(stale_after=6.0, clock=clock), clock


def test_sessions_and_users_route_to_the_nodes_that_hold_them():
    registry, _ = _registry()
    registry.replace("a", 0, [])
    registry.replace("b", 0, [])
    assert registry.apply("a", 2, [["add", "c1", 1, 10], ["add", "c2", 1, 11]])
    assert registry.apply("b", 1, [["add", "c3", 1, 12]])
    assert sorted(registry.nodes_for(1, None)) == ["a", "b"]
    assert registry.nodes_for(1, 11) == ["a"]
    assert registry.nodes_for(2, None) == [] and registry.nodes_for(None, 99) == []
    assert sorted(registry.nodes_for(None, None)) == ["a", "b"], "a broadcast: every live node"
    assert registry.apply("a", 4, [["remove", "c1", 1, 10], ["remove", "c2", 1, 11]])
    assert registry.nodes_for(1, None) == ["b"] and registry.nodes_for(1, 11) == []


def test_a_delta_out_of_sequence_is_refused_so_the_caller_asks_for_the_full_state():
    registry, _ = _registry()
    assert not registry.apply("a", 1, [["add", "c1", 1, 10]]), "state never seen"
    registry.replace("a", 5, [("c1", 1, 10)])
    assert not registry.apply("a", 7, [["add", "c2", 2, 20]]), "delta 6 was lost"
    assert registry.nodes_for(2, None) == []
    assert registry.apply("a", 6, [["add", "c2", 2, 20]])
    assert registry.nodes_for(2, 20) == ["a"]


def test_a_silent_node_is_ignored_at_once_and_forgotten_at_the_next_expiry():
    registry, clock = _registry()
    registry.replace("a", 0, [("c1", 1, 10)])
    registry.replace("b", 0, [("c2", 1, 11)])
    clock.now += 4.0
    registry.heard("b")
    clock.now += 2.5  # a: 6.5 s of silence, b: 2.5 s
    assert registry.nodes_for(1, None) == ["b"], "a dead node's entries are not used"
    assert registry.expire() == ["a"]
    assert registry.version("a") is None and len(registry) == 1


def test_a_restarted_node_replaces_what_was_known_of_it():
    registry, _ = _registry()
    registry.replace("a", 9, [("c1", 1, 10), ("c2", 2, 20)])
    registry.replace("a", 1, [("c3", 3, 30)])
    assert registry.nodes_for(1, None) == [] and registry.nodes_for(3, 30) == ["a"]
    registry.forget("a")
    assert registry.nodes_for(None, None) == [] and len(registry) == 0
