"""A database (or Redis) outage under a running system: quiet logs, honest /readyz, 1011 at hello.

The web app and the daemon reach PostgreSQL through a TCP proxy, so a test can cut the
database (connections reset, new ones refused) or blackhole it (connections accepted, every
byte silently dropped, as a dead network does) and then bring it back, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.devstack import Stack
from signaling.client.api import ApiError
from signaling.client.socket import SignalingClient, SignalingClosed
from tests.calling import close_all, make_person, ring_and_answer
from tests.scale.conftest import wait_for_log
from tests.scale.tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

HELLO_TIMEOUT = 3.0
CUT_SECONDS = 8.0
ENV = {
    "CHIMECAST_ARGON2_TIME_COST": "1",
    "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
    "CHIMECAST_HELLO_TIMEOUT": str(HELLO_TIMEOUT),
}


@contextlib.contextmanager
def proxied_stack(tmp_path: Path, postgres_url: str, env: dict[str, str]):
    """(stack, proxy): web app + one daemon whose only way to PostgreSQL is the proxy."""
    target = urlsplit(postgres_url)
    proxy = TcpProxy((target.hostname, target.port or 5432))
    url = postgres_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
    try:
        with Stack(url, extra_env=env, log_dir=tmp_path / "logs") as stack:
            yield stack, proxy
    finally:
        proxy.close()


@pytest.fixture
def proxied(tmp_path, postgres_url):
    with proxied_stack(tmp_path, postgres_url, ENV) as stack_and_proxy:
        yield stack_and_proxy


def get(url: str, timeout: float = 10) -> tuple[int, dict, float]:
    """(status, JSON body, seconds taken) of a GET; an HTTP error status is an answer too."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw or b"{}"), time.monotonic() - started


def daemon_url(stack: Stack, path: str) -> str:
    return f"http://127.0.0.1:{stack.signaling_ports[0]}{path}"


def wait_status(url: str, status: int, within: float) -> dict:
    deadline = time.monotonic() + within
    while True:
        got, body, _ = get(url)
        if got == status:
            return body
        assert time.monotonic() < deadline, f"{url} still {got} {body} after {within}s"
        time.sleep(0.2)


async def hello_refused(url: str, token: str) -> tuple[SignalingClosed, float]:
    """Connect and send hello; the close the daemon answers with, and how long it took."""
    client = SignalingClient(url, token)
    started = time.monotonic()
    with pytest.raises(SignalingClosed) as closed:
        await client.connect(timeout=4 * HELLO_TIMEOUT + 5)
    return closed.value, time.monotonic() - started


def log_lines_since(path: Path, offset: int) -> list[str]:
    return path.read_bytes()[offset:].decode(errors="replace").splitlines()


def test_database_cut_is_quiet_visible_and_recovers_without_restart(proxied):
    stack, proxy = proxied
    alice, bob = make_person(stack, "alice"), make_person(stack, "bob")
    daemon_log = stack.log_dir / "signaling.log"
    readyz = daemon_url(stack, "/readyz")
    assert get(readyz)[0] == 200, "the daemon must be ready before the cut"
    # carol logs in before the cut (that needs the database); her hello during it is refused.
    carol = make_person(stack, "carol")
    erin = make_person(stack, "erin")  # connected before the cut, calls during it

    async def scenario() -> None:
        await alice.connect(stack.signaling_url)
        await bob.connect(stack.signaling_url)
        await erin.connect(stack.signaling_url)
        try:
            call_id = await ring_and_answer(alice, bob)
            offset = daemon_log.stat().st_size

            proxy.cut()
            cut_at = time.monotonic()
            body = await asyncio.to_thread(wait_status, readyz, 503, 3)
            assert body["database"] == "unavailable", body
            assert (await asyncio.to_thread(get, daemon_url(stack, "/healthz")))[0] == 200

            # An active call keeps relaying: it needs no database.
            await alice.sig.relay("offer", call_id, bob.name, {"sdp": "v=0 during the cut"})
            relayed = await bob.sig.wait_for("offer", call_id=call_id, timeout=5)
            assert relayed["payload"]["sdp"] == "v=0 during the cut"

            # Call control needs the database: a clear error, nothing changes, and the
            # connection stays (a hang-up, a new call over the socket, many of them).
            for _ in range(5):
                refused = await alice.sig.hangup(call_id)
                assert (refused["type"], refused["code"]) == ("error", "database_unavailable")
                refused = await erin.sig.call(alice.name)
                assert (refused["type"], refused["code"]) == ("error", "database_unavailable")
            await alice.sig.relay("offer", call_id, bob.name, {"sdp": "v=0 still relayed"})
            relayed = await bob.sig.wait_for("offer", call_id=call_id, timeout=5)
            assert relayed["payload"]["sdp"] == "v=0 still relayed"

            # A hello that cannot be checked is told to retry (1011), within the hello timeout.
            closed, took = await hello_refused(stack.signaling_url, carol.api.token)
            assert closed.code == 1011, closed
            assert "retry" in closed.reason, closed
            assert took < HELLO_TIMEOUT, f"closed after {took:.2f}s"

            await asyncio.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
            proxy.restore()
            await asyncio.to_thread(wait_status, readyz, 200, 10)
            # The loops' next round (at most the 2 s backoff away) logs the recovery.
            await asyncio.to_thread(wait_for_log, daemon_log, "outage.end what=database", 5)
            lines = log_lines_since(daemon_log, offset)

            # Everything works again without a restart: hang-up, new login, ring, relay.
            ack = await alice.sig.hangup(call_id)
            assert ack["type"] == "ack", ack
            await bob.sig.wait_for("ended", call_id=call_id, timeout=5)
            dave = await asyncio.to_thread(make_person, stack, "dave")
            await carol.connect(stack.signaling_url)
            await dave.connect(stack.signaling_url)
            second = await ring_and_answer(carol, dave)
            await carol.sig.relay("offer", second, dave.name, {"sdp": "v=0 after"})
            await dave.sig.wait_for("offer", call_id=second, timeout=5)
            await close_all(carol, dave)
        finally:
            await close_all(alice, bob, erin)

        text = "\n".join(lines)
        assert "Traceback" not in text, text[:3000]
        outage = [line for line in lines if " app.outage " in line]
        assert 2 <= len(outage) <= 5, "\n".join(outage)
        assert "outage.start what=database" in outage[0], outage
        assert "outage.end what=database" in outage[-1], outage
        assert len(lines) <= 30, f"{len(lines)} log lines during an {CUT_SECONDS}s cut:\n{text}"

    asyncio.run(scenario())
    assert stack.processes["signaling"].poll() is None, "recovery must not need a restart"


def test_blackholed_database_gives_prompt_not_ready_and_hello_1011(proxied):
    stack, proxy = proxied
    carol = make_person(stack, "carol")
    web_readyz, readyz = f"{stack.web_url}/readyz", daemon_url(stack, "/readyz")
    assert get(web_readyz)[0] == 200 and get(readyz)[0] == 200

    proxy.blackhole()
    for _ in range(3):  # a probe still stuck from the last request must not make it hang
        status, body, took = get(web_readyz, timeout=30)
        assert status == 503 and body["error"] == "database_unavailable", body
        assert took < 3, f"web /readyz took {took:.2f}s"
        status, body, took = get(readyz, timeout=30)
        assert status == 503 and body["database"] == "unavailable", body
        assert took < 3, f"daemon /readyz took {took:.2f}s"

    closed, took = asyncio.run(hello_refused(stack.signaling_url, carol.api.token))
    assert closed.code == 1011 and "retry" in closed.reason, closed
    # The hello deadline no longer runs once the hello is in (PROTOCOL.md, "Busy servers"):
    # the server's own bound on answering it is 4 hello deadlines (then 1013).
    assert took < 4 * HELLO_TIMEOUT, f"closed after {took:.2f}s"

    proxy.restore()
    wait_status(web_readyz, 200, 15)
    wait_status(readyz, 200, 15)


def test_daemon_readyz_reports_redis_down_and_back(tmp_path, private_redis):
    env = {**ENV, "CHIMECAST_REDIS_URL": private_redis.url}
    database = f"sqlite:///{tmp_path / 'outage.db'}"
    with Stack(database, extra_env=env, log_dir=tmp_path / "logs") as stack:
        readyz = daemon_url(stack, "/readyz")
        body = wait_status(readyz, 200, 5)
        assert body["redis"] == "ok" and body["database"] == "ok", body

        private_redis.stop()
        status, body, took = get(readyz)
        assert status == 503 and body["redis"] == "unavailable", body
        assert body["database"] == "ok" and took < 3, (body, took)
        assert get(daemon_url(stack, "/healthz"))[0] == 200, "liveness is not readiness"

        private_redis.start()  # same port
        wait_status(readyz, 200, 10)


# Short bounds, in the order they fire: the daemon answers a client's request after OVERDUE
# (Settings.overdue: min(4 hello timeouts, half the heartbeat timeout)); the watchdog ends a
# command the database never answers after the statement timeout + 2 s (app/dbwatchdog.py).
SILENT_ENV = {
    **ENV,
    "CHIMECAST_HEARTBEAT_INTERVAL": "4",
    "CHIMECAST_HEARTBEAT_TIMEOUT": "10",
    "CHIMECAST_DB_STATEMENT_TIMEOUT": "4000",
}
OVERDUE = min(4 * HELLO_TIMEOUT, 10 / 2)
WATCHDOG = 4 + 2


def test_silent_database_during_call_control_answers_in_time_and_recovers(tmp_path, postgres_url):
    """A database that swallows every byte (its socket still acknowledges: no error, no
    timeout from the kernel) while many clients ask for call control at once, more than the
    daemon has database threads; then it answers again."""
    with proxied_stack(tmp_path, postgres_url, SILENT_ENV) as (stack, proxy):
        alice, bob, carol, dave = (make_person(stack, n) for n in ("alice", "bob", "carol", "dave"))
        callers = [make_person(stack, "caller") for _ in range(6)]
        daemon_log = stack.log_dir / "signaling.log"
        readyz = daemon_url(stack, "/readyz")

        async def scenario() -> None:
            everyone = [alice, bob, carol, dave, *callers]
            for person in everyone:
                await person.connect(stack.signaling_url)
            try:
                call_id = await ring_and_answer(alice, bob)
                offset = daemon_log.stat().st_size

                proxy.blackhole()
                blackholed_at = time.monotonic()
                # The web app too: a request that meets the silent database answers (the
                # watchdog frees its thread) instead of holding a worker thread for ever.
                web_call = asyncio.create_task(asyncio.to_thread(http_start, dave, bob.name))

                # An active call keeps relaying: it needs no database.
                await alice.sig.relay("offer", call_id, bob.name, {"sdp": "v=0 in the silence"})
                relayed = await bob.sig.wait_for("offer", call_id=call_id, timeout=3)
                assert relayed["payload"]["sdp"] == "v=0 in the silence"

                # Seven requests at once on four database threads: every one is answered
                # database_unavailable within the daemon's bound, and no socket is dropped.
                started = time.monotonic()
                replies = await asyncio.gather(
                    alice.sig.hangup(call_id), *(c.sig.call(carol.name) for c in callers)
                )
                took = time.monotonic() - started
                assert [(r["type"], r["code"]) for r in replies] == [
                    ("error", "database_unavailable")
                ] * 7, replies
                assert took < OVERDUE + 2.5, f"answered after {took:.1f}s"

                # Restored before the watchdog frees the stuck threads: the requests that were
                # still queued then must not run now, after their clients were told they failed.
                proxy.restore()
                assert time.monotonic() - blackholed_at < WATCHDOG, "too slow to test the queue"
                await asyncio.to_thread(wait_status, readyz, 200, 15)

                # Call control works again, without a restart: the threads are free.
                ack = await alice.sig.hangup(call_id)
                assert ack["type"] == "ack", ack
                await bob.sig.wait_for("ended", call_id=call_id, timeout=5)
                status, late_call, took = await web_call
                assert status in ("started", 503), status  # answered, never hung, never 500
                # (the watchdog, then at worst a connect timeout into the silence: 5 s)
                assert took < WATCHDOG + 5 + 5, f"the web request took {took:.1f}s"
                if late_call is not None:  # it got through after the restore: end that call
                    await asyncio.to_thread(dave.api.end_call, late_call)

                second = await ring_and_answer(callers[0], callers[1])
                await callers[0].sig.relay("offer", second, callers[1].name, {"sdp": "v=0"})
                await callers[1].sig.wait_for("offer", call_id=second, timeout=5)

                # None of the calls asked for in the silence rang carol, then or later.
                with pytest.raises(TimeoutError):
                    await carol.sig.wait_for("incoming", timeout=WATCHDOG - 2)
                for person in everyone:
                    assert person.sig.closed is None, (person.name, person.sig.closed)
                    assert (await person.sig.request({"type": "ping"}))["type"] == "pong"
            finally:
                await close_all(*everyone)

            text = "\n".join(log_lines_since(daemon_log, offset))
            assert "Traceback" not in text, text[:3000]
            assert "outage.start what=database" in text, text[:3000]

        asyncio.run(scenario())
        assert stack.processes["signaling"].poll() is None


def http_start(caller, callee: str) -> tuple[str | int, int | None, float]:
    """("started" or the HTTP error status, the call's id if started, seconds) of
    POST /call/start."""
    started = time.monotonic()
    try:
        call_id = caller.api.start_call(callee)["id"]
    except ApiError as exc:
        return exc.status, None, time.monotonic() - started
    return "started", call_id, time.monotonic() - started


# The daemon checks an idle LISTEN connection after a heartbeat interval of quiet; the
# fallback poll is long here, so a ring that came by it could not pass for a NOTIFY.
STRANDED_ENV = {
    **ENV,
    "CHIMECAST_HEARTBEAT_INTERVAL": "2",
    "CHIMECAST_HEARTBEAT_TIMEOUT": "16",
    "CHIMECAST_DB_STATEMENT_TIMEOUT": "2000",
    "CHIMECAST_OUTBOX_FALLBACK_INTERVAL": "5",
}


def test_database_connections_stranded_for_good_are_replaced_and_rings_stay_prompt(
    tmp_path, postgres_url
):
    """Every connection open to PostgreSQL goes silent for good (a middlebox lost them);
    new ones work. The pools' are replaced when used (the watchdog), the daemon's idle
    LISTEN connection when its check gets no answer: rings come by NOTIFY again, not by
    the fallback poll."""
    with proxied_stack(tmp_path, postgres_url, STRANDED_ENV) as (stack, proxy):
        alice, bob = make_person(stack, "alice"), make_person(stack, "bob")
        alice.api.timeout = bob.api.timeout = 30  # a stranded pooled connection costs ~5 s
        daemon_log = stack.log_dir / "signaling.log"

        async def ring(caller, callee) -> float:
            """Seconds from the start's answer to the callee's `incoming`; then hang up."""
            call = await asyncio.to_thread(caller.api.start_call, callee.name)
            answered = time.monotonic()
            await callee.sig.wait_for("incoming", call_id=call["id"], timeout=20)
            took = time.monotonic() - answered
            await asyncio.to_thread(caller.api.end_call, call["id"])
            await callee.sig.wait_for("cancelled", call_id=call["id"], timeout=20)
            return took

        async def scenario() -> None:
            await alice.connect(stack.signaling_url)
            await bob.connect(stack.signaling_url)
            try:
                assert await ring(alice, bob) < 1.0, "no NOTIFY before the test"
                proxy.strand()
                # quiet (2 s) + the check's bound (5 s) + a margin
                await asyncio.to_thread(wait_for_log, daemon_log, "outbox.listen_failed", 12)
                for _ in range(4):  # the pools meet their stranded connections once each
                    await ring(bob, alice)
                took = [await ring(alice, bob) for _ in range(3)]
                assert max(took) < 1.0, f"rings by the 5 s fallback poll, not NOTIFY: {took}"
            finally:
                await close_all(alice, bob)

        asyncio.run(scenario())
        assert stack.processes["signaling"].poll() is None
