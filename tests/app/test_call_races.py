"""Nobody is in two calls, and one pair makes one call, under real concurrency: simultaneous
requests to a real gunicorn with several worker processes, on the suite's database
(SQLite file, or PostgreSQL when CHIMECAST_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from app.devstack import Stack
from signaling.client.api import ApiClient
from tests.conftest import PASSWORD, database_url_for

TRIALS = 20
STARTS = 4  # simultaneous starts of the same call per trial


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Stack]:
    """gunicorn, 4 workers x 2 threads, no signaling daemon (none of this needs one)."""
    tmp = tmp_path_factory.mktemp("races")
    env = {
        "CHIMECAST_ENV": "development",
        "CHIMECAST_ARGON2_TIME_COST": "1",
        "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
        "CHIMECAST_CALL_START_LIMIT": "100000",
    }
    stack = Stack(
        database_url_for(tmp), signaling_ports=[], extra_env=env, log_dir=tmp / "logs",
        web_workers=4, web_threads=2,
    )  # fmt: skip
    with stack as running:
        yield running


def _person(stack: Stack, name: str) -> ApiClient:
    api = ApiClient(stack.web_url)
    api.register_and_login(name, PASSWORD)
    return api


def _at_once(jobs: list[Callable[[], tuple[int, object]]]) -> list[tuple[int, object]]:
    """Run the jobs in threads released together; their (status, body) in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[tuple[int, object]] = [(0, None)] * len(jobs)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = jobs[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def _live_calls(api: ApiClient) -> list[dict]:
    status, page = api.request("GET", "/calls?per_page=100")
    assert status == 200, page
    return [c for c in page["items"] if c["state"] in ("ringing", "active")]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_simultaneous_starts_between_one_pair_make_exactly_one_call(web):
    ann, bob = _person(web, "ann"), _person(web, "bob")
    doubled = []
    for trial in range(TRIALS):
        starts = [lambda: ann.request("POST", "/call/start", {"callee": "bob"})] * STARTS
        results = _at_once(starts)
        assert {status for status, _ in results} <= {200, 201}, results
        live = _live_calls(bob)
        if len(live) != 1 or len({body["call"]["id"] for _, body in results}) != 1:
            doubled.append((trial, [c["id"] for c in live]))
        for call in live:
            ann.request("POST", "/call/end", {"call_id": call["id"]})
    assert doubled == [], f"{len(doubled)} of {TRIALS} trials made more than one call"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_callee_accepting_two_calls_at_once_gets_exactly_one(web):
    cat, dan, eve = _person(web, "cat"), _person(web, "dan"), _person(web, "eve")
    both = []
    for trial in range(TRIALS):
        first = cat.call("POST", "/call/start", {"callee": "eve"})["call"]["id"]
        second = dan.call("POST", "/call/start", {"callee": "eve"})["call"]["id"]
        results = _at_once(
            [
                lambda i=i: eve.request("POST", "/call/accept", {"call_id": i})
                for i in (first, second)
            ]
        )
        statuses = sorted(status for status, _ in results)
        active = [c for c in _live_calls(eve) if c["state"] == "active"]
        if statuses != [200, 409] or len(active) != 1:
            both.append((trial, statuses, [c["id"] for c in active]))
        else:
            refused = next(body for status, body in results if status == 409)
            assert refused["error"] == "already_in_call", refused
        for call_id in (first, second):
            eve.request("POST", "/call/end", {"call_id": call_id})
    assert both == [], f"{len(both)} of {TRIALS} trials: {both[:3]}"
