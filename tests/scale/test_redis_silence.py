"""Redis that goes silent under two daemons: its socket still acknowledges, nothing answers.

A stopped redis-server process, a hung proxy or a middlebox swallowing bytes raises no
error and trips no kernel timeout. A relay to a peer on the other daemon publishes on
Redis from the sender's own reader, so a publish that waited for ever would freeze the
sender's connection (no pong, nothing else handled, then 4010), and every such publish
would pin a Redis connection for good, even after Redis answers again.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.calling import Person, close_all, make_person, ring_and_answer
from tests.scale.conftest import two_daemons_on
from tests.scale.tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


@pytest.fixture
def silenced(tmp_path, private_redis):
    """(stack, proxy): two daemons whose only way to Redis is the proxy."""
    proxy = TcpProxy(("127.0.0.1", private_redis.port))
    try:
        with two_daemons_on(tmp_path, f"redis://127.0.0.1:{proxy.port}/0") as stack:
            yield stack, proxy
    finally:
        proxy.close()


async def relayed(sender: Person, receiver: Person, call_id: int, within: float) -> bool:
    """Whether a candidate from `sender` reaches `receiver` within `within` seconds."""
    mark = f"m{time.monotonic_ns()}"
    await sender.sig.relay("candidate", call_id, receiver.name, {"candidate": mark})
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            got = await receiver.sig.wait_for("candidate", call_id=call_id, timeout=left)
        except TimeoutError:
            return False
        if got["payload"] == {"candidate": mark}:
            return True
    return False


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_silent_redis_never_freezes_a_sender_and_relays_resume_after(silenced):
    stack, proxy = silenced
    alice, bob, carol, dave = (make_person(stack, n) for n in ("alice", "bob", "carol", "dave"))

    async def scenario() -> None:
        await alice.connect(stack.signaling_urls[0])
        await bob.connect(stack.signaling_urls[1])
        await carol.connect(stack.signaling_urls[0])
        await dave.connect(stack.signaling_urls[0])
        try:
            across = await ring_and_answer(alice, bob)  # two daemons: relays cross Redis
            near = await ring_and_answer(carol, dave)  # one daemon: relays never touch it
            deadline = time.monotonic() + 10
            while not await relayed(alice, bob, across, 1.0):  # the registry is in sync
                assert time.monotonic() < deadline, "no relay across daemons before the test"

            proxy.blackhole()
            # Many small valid relays into the silence, from both sides.
            for _ in range(20):
                await alice.sig.relay("candidate", across, bob.name, {"candidate": "x"})
                await bob.sig.relay("candidate", across, alice.name, {"candidate": "y"})
            # Each sender's connection still answers at once: its reader is not stuck.
            for person in (alice, bob):
                started = time.monotonic()
                pong = await person.sig.request({"type": "ping"}, timeout=5)
                assert pong["type"] == "pong", pong
                assert time.monotonic() - started < 3, f"{person.name}: pong after a stall"
            assert await relayed(carol, dave, near, 2.0), "a relay within one daemon stalled"
            readyz = f"http://127.0.0.1:{stack.signaling_ports[0]}/readyz"
            status, body = await asyncio.to_thread(get_json, readyz)
            assert (status, body.get("redis")) == (503, "unavailable"), body

            await asyncio.sleep(2)
            proxy.restore()
            # Lost while silent (Redis pub/sub is at-most-once), but back within seconds.
            deadline = time.monotonic() + 20
            while not (
                await relayed(alice, bob, across, 1.0) and await relayed(bob, alice, across, 1.0)
            ):
                assert time.monotonic() < deadline, "relays across daemons did not resume"
            for person in (alice, bob, carol, dave):
                assert person.sig.closed is None, (person.name, person.sig.closed)
        finally:
            await close_all(alice, bob, carol, dave)

    asyncio.run(scenario())
    for name, process in stack.processes.items():
        assert process.poll() is None, f"{name} exited"
    text = "\n".join(
        (stack.log_dir / name).read_text(errors="replace")
        for name in ("signaling.log", "signaling1.log")
    )
    assert "Traceback" not in text, text[-3000:]
