"""`chimecast-signaling --workers N`: N daemons on one port, one per core, and their parent.

The parent reserves the port (bound with SO_REUSEPORT, never listening, so `--port 0`
resolves once), then forks N workers. Each worker is a whole daemon with its own node id
(`<host>:<port>/<n>`, stable across its restarts so it takes over its previous run's rows)
listening on the same port with SO_REUSEPORT: the kernel spreads new connections over the
listening workers, and the workers reach each other's clients through the Redis bus
(signaling.state.redis_hub), which is why N > 1 needs CHIMECAST_REDIS_URL.

The parent does no work of its own: it restarts a worker that dies (after a pause if it
died young, so a broken configuration does not spin), and on SIGTERM or SIGINT forwards
SIGTERM to every worker, waits for them to drain, and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable

import gevent

from app import logs

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # before restarting a worker that lived less than YOUNG seconds
YOUNG = 5.0
STOP_TIMEOUT = 30.0  # after SIGTERM, workers still there are killed
REAP_EVERY = 0.1


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, not listening: it holds the port
    (port 0 picks one) without receiving connections; the workers bind the same port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def reuse_port_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on (host, port) that shares the port with the other workers."""
    sock = reserve_port(host, port)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class Supervisor:
    """The parent of `workers` processes, each running `run_worker(index, port)`."""

    def __init__(
        self, host: str, port: int, workers: int, run_worker: Callable[[int, int], int]
    ) -> None:
        self.host, self.workers, self.run_worker = host, workers, run_worker
        self._reserved = reserve_port(host, port)
        self.port = self._reserved.getsockname()[1]
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self.stopping = False
        self._handlers: list = []

    def run(self) -> int:
        """Fork the workers and supervise them until a signal has drained them all."""
        logs.event(log, "workers.starting", workers=self.workers, host=self.host, port=self.port)
        for index in range(self.workers):
            self._spawn(index)
        self._handlers = [
            gevent.signal_handler(signum, self.stop) for signum in (signal.SIGTERM, signal.SIGINT)
        ]
        deadline: float | None = None
        while self.children:
            self._reap()
            if self.stopping and deadline is None:
                deadline = time.monotonic() + STOP_TIMEOUT
            if deadline is not None and time.monotonic() > deadline:
                self._signal_all(signal.SIGKILL)
            gevent.sleep(REAP_EVERY)
        logs.event(log, "workers.stopped", port=self.port)
        return 0

    def stop(self) -> None:
        """Drain every worker (safe from a signal handler, and more than once)."""
        if not self.stopping:
            self.stopping = True
            logs.event(log, "workers.draining", workers=len(self.children))
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index, started = self.children.pop(pid, (None, 0.0))
            if index is None or self.stopping:
                continue
            lived = time.monotonic() - started
            logs.event(log, "workers.died", logging.ERROR, worker=index, pid=pid,
                       status=_describe(status), lived=round(lived, 1))  # fmt: skip
            if lived < YOUNG:
                gevent.sleep(RESTART_PAUSE)
            if not self.stopping:
                self._spawn(index)

    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: none of the parent's duties come along
            code = 1
            try:
                for handler in self._handlers:
                    handler.cancel()
                self._reserved.close()
                code = self.run_worker(index, self.port)
            except BaseException:
                logs.event(log, "workers.crashed", logging.ERROR, True, worker=index)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = (index, time.monotonic())
        logs.event(log, "workers.started", worker=index, pid=pid)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.waitstatus_to_exitcode(status)}"
