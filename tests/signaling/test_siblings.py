"""The links between the workers of one `--workers N` daemon (signaling.state.siblings).

Two `Siblings` in one process over the real socketpairs of `Inboxes`: what one sends, the
other delivers in order with its target; a sibling that never reads costs a bounded
backlog and never a blocked sender; a worker ignores what was sent to its previous run.
The processes themselves are tested in tests/scale/test_sibling_links.py.
"""

from __future__ import annotations

import time

import gevent
import pytest

from signaling.state import siblings as links
from signaling.state.hub import Target
from signaling.state.siblings import Inboxes, Siblings

pytestmark = pytest.mark.timeout(30)


def _node(n: int) -> str:
    return f"host:8001/{n}"


@pytest.fixture
def inboxes():
    made = Inboxes(2)
    yield made
    for pair in made.pairs:
        for sock in pair:
            sock.close()


def _worker(inboxes: Inboxes, index: int) -> Siblings:
    """Worker `index`'s view, without closing anything (both live in this process)."""
    other = 1 - index
    return Siblings(inboxes.pairs[index][0], {other: inboxes.pairs[other][1]}, node_of=_node)


def _collector() -> tuple[list[tuple[Target, dict]], object]:
    got: list[tuple[Target, dict]] = []

    def deliver(target: Target, message: dict) -> int:
        got.append((target, message))
        return 1

    return got, deliver


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        gevent.sleep(0.01)


def test_records_reach_the_sibling_in_order_with_their_targets(inboxes):
    first, second = _worker(inboxes, 0), _worker(inboxes, 1)
    got, deliver = _collector()
    second.start(deliver)
    targets = [Target(7, 70), Target(7, None, 71), Target(None, 72, None, 4003)]
    for n in range(600):
        first.send([_node(1)], targets[n % 3], {"type": "candidate", "n": n})
        if n % 50 == 49:
            gevent.sleep(0)  # several loop turns, several datagrams
    _wait_for(lambda: len(got) == 600)
    assert [message["n"] for _target, message in got] == list(range(600))
    assert [target for target, _message in got[:3]] == targets
    second.stop()


def test_a_sibling_that_never_reads_costs_a_bounded_backlog_and_never_a_blocked_sender(
    inboxes,
):
    first, second = _worker(inboxes, 0), _worker(inboxes, 1)
    big = "x" * 30_000
    started = time.monotonic()
    for n in range(1000):  # 30 MB: more than the inbox and the backlog together
        first.send([_node(1)], Target(7, 70), {"n": n, "sdp": big})
        gevent.sleep(0)
    assert time.monotonic() - started < 5, "the sender waited for a sibling that never reads"
    link = first.links[_node(1)]
    assert link.dropped > 0
    assert link._backlog_bytes <= links.BACKLOG_BYTES
    got, deliver = _collector()
    second.start(deliver)  # it reads at last: what was kept arrives, in order, no gaps
    _wait_for(lambda: not link._backlog and link._writer is None)
    gevent.sleep(0.2)
    numbers = [message["n"] for _target, message in got]
    assert numbers == list(range(len(numbers))) and 0 < len(numbers) < 1000
    second.stop()


def test_a_restarted_worker_ignores_what_was_sent_to_its_previous_run(inboxes):
    first = _worker(inboxes, 0)
    _worker(inboxes, 1)  # the previous run, which died without reading
    first.send([_node(1)], Target(7, 70), {"n": "old"})
    gevent.sleep(0)  # the turn ends: it is in the inbox
    gevent.sleep(0.01)
    restarted = _worker(inboxes, 1)
    got, deliver = _collector()
    restarted.start(deliver)
    first.send([_node(1)], Target(7, 70), {"n": "new"})
    _wait_for(lambda: got)
    gevent.sleep(0.1)
    assert [message["n"] for _target, message in got] == ["new"]
    restarted.stop()
