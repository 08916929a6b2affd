"""The command watchdog against a real PostgreSQL behind a proxy that can swallow every byte.

A blackholed connection still acknowledges at the TCP level (the proxy's kernel does), so
neither the server's statement_timeout nor the kernel's keepalives or tcp_user_timeout can
end libpq's wait: without the watchdog these threads would wait for ever, even after the
proxy forwards again (the bytes it swallowed are gone).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app import dbwatchdog
from app.dbwatchdog import CommandWatchdog
from tests.scale.tcpproxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture
def proxied_url(postgres_url):
    """(url through a proxy, the proxy)."""
    target = urlsplit(postgres_url)
    proxy = TcpProxy((target.hostname, target.port or 5432))
    try:
        url = postgres_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
        yield url.replace("postgresql://", "postgresql+psycopg://"), proxy
    finally:
        proxy.close()


CONNECT_TIMEOUT = 2  # the app sets one too (CHIMECAST_DB_CONNECT_TIMEOUT): the watchdog
# bounds commands, and a pre-ping that fails makes the pool connect anew, into the blackhole


def engine_for(url: str, statement_timeout_ms: int = 0):
    connect_args: dict = {"connect_timeout": CONNECT_TIMEOUT}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={statement_timeout_ms}"
    return create_engine(url, pool_size=8, pool_pre_ping=True, connect_args=connect_args)


def select_one(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT 1")).scalar_one()


def test_commands_stuck_in_a_blackhole_fail_at_the_deadline_and_the_pool_recovers(proxied_url):
    url, proxy = proxied_url
    engine = engine_for(url)
    watchdog = CommandWatchdog(engine, deadline=1.0, tick=0.2)
    with ThreadPoolExecutor(6) as threads:
        # Six connections in the pool, all used before the network goes silent.
        assert list(threads.map(lambda _: select_one(engine), range(6))) == [1] * 6
        proxy.blackhole()
        started = time.monotonic()

        def stuck(_: int) -> tuple[str, float]:
            try:
                select_one(engine)
                return "answered", time.monotonic() - started
            except OperationalError:
                return "failed", time.monotonic() - started

        outcomes = list(threads.map(stuck, range(6)))
    assert [outcome for outcome, _ in outcomes] == ["failed"] * 6, outcomes
    # the pre-ping's deadline + up to two ticks to notice, then the new connection's
    # connect timeout; generous for a loaded CI machine
    assert max(took for _, took in outcomes) < 1.0 + 2 * 0.2 + CONNECT_TIMEOUT + 1.5, outcomes
    assert watchdog.aborted >= 6

    proxy.restore()
    assert select_one(engine) == 1  # the pool dropped the aborted connections
    engine.dispose()


def test_a_busy_connection_running_many_short_commands_is_never_aborted(postgres_url):
    engine = engine_for(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    watchdog = CommandWatchdog(engine, deadline=0.5, tick=0.05)
    stop = time.monotonic() + 3.0
    errors: list[BaseException] = []

    def busy() -> None:
        try:
            with engine.connect() as connection:  # one connection, back-to-back commands
                while time.monotonic() < stop:
                    connection.execute(text("SELECT pg_sleep(0.15)"))
                    connection.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=busy) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and watchdog.aborted == 0, (errors, watchdog.aborted)
    engine.dispose()


def test_a_slow_statement_is_cancelled_by_the_server_before_the_watchdog_steps_in(postgres_url):
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    engine = engine_for(url, statement_timeout_ms=500)
    watchdog = dbwatchdog.install(engine, 500, slack=1.0)
    assert watchdog is not None and watchdog.deadline == 1.5
    with pytest.raises(OperationalError, match="statement timeout"):
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(3)"))
    assert watchdog.aborted == 0
    assert select_one(engine) == 1
    engine.dispose()


def test_no_watchdog_without_a_statement_timeout_or_on_sqlite(postgres_url, tmp_path):
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    assert dbwatchdog.install(create_engine(url), 0) is None
    assert dbwatchdog.install(create_engine(f"sqlite:///{tmp_path / 'x.db'}"), 30000) is None


def test_a_forked_child_has_its_own_watching_thread(tmp_path):
    """gunicorn --preload builds the app (and its watchdog) before forking the workers."""
    engine = create_engine(f"sqlite:///{tmp_path / 'fork.db'}")  # no connection needed
    watchdog = CommandWatchdog(engine, deadline=30)
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, whatever happens
        alive = any(t.name == dbwatchdog.THREAD_NAME for t in threading.enumerate())
        os._exit(0 if alive else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "no watchdog thread in the forked child"
    del watchdog
    engine.dispose()
