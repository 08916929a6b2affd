"""What the load tool measures: its own temporary ChimeCast, a running one, or the bare relay.

A `Target` knows its URLs, the pid of the signaling process (for /proc figures, when
known) and whether it has an HTTP API (real ChimeCast) or takes usernames as tokens (the
reference relay). Targets the tool starts are stopped by PID when the `with` block ends.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from app.devstack import ROOT, Stack, free_port, stop_process, wait_http_ok

# Settings for a temporary system that is there to be loaded: cheap password hashing (the
# API registers thousands of users) and limits far above what the scenarios offer, so the
# figures measure the relay rather than its protection. Names are the daemon's CHIMECAST_*.
BENCH_ENV = {
    "CHIMECAST_ENV": "development",
    "CHIMECAST_ARGON2_TIME_COST": "1",
    "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
    "CHIMECAST_CALL_START_LIMIT": "1000000",
    "CHIMECAST_MESSAGE_RATE": "1000000",
    "CHIMECAST_MESSAGE_BURST": "1000000",
    "CHIMECAST_MAX_CONNECTIONS_PER_USER": "100000",
    "CHIMECAST_LOG_LEVEL": "WARNING",
}


# What `--reference` may name: the bare relay of signaling.bench.reference, PeerJS server.
REFERENCES = ("gevent", "peerjs")

# Threads per gunicorn worker of the temporary system: under a burst each extra thread of a
# worker adds GIL hand-offs to every request (signaling/bench/RESULTS.md).
WEB_THREADS = 1


@dataclass
class Target:
    """A signaling endpoint under test."""

    name: str
    signaling_url: str
    web_url: str | None = None
    server_pid: int | None = None
    notes: list[str] = field(default_factory=list)
    web_pid: int | None = None  # gunicorn's master: CPU of the API, workers included
    protocol: str = "chimecast"  # or "peerjs": what the load client speaks (load_client)

    @property
    def has_api(self) -> bool:
        """True for ChimeCast (users and calls through HTTP); False for the bare relay."""
        return self.web_url is not None


def raise_fd_limit() -> str:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (children inherit it); say what happened."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft == target:
        return f"file-descriptor limit already at the hard limit ({soft})"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        return f"could NOT raise the file-descriptor limit from {soft} ({exc})"
    return f"raised the file-descriptor limit from {soft} to {target} (the servers it starts inherit it)"


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class OwnSystem:
    """A temporary ChimeCast (migrate + gunicorn + daemon) on SQLite in a temporary folder."""

    def __init__(self, extra_env: dict[str, str], keep_logs: Path | None = None,
                 web_workers: int | None = None, web_threads: int = WEB_THREADS,
                 signaling_workers: int = 1) -> None:  # fmt: skip
        self._tmp = tempfile.TemporaryDirectory(prefix="chimecast-bench-")
        folder = Path(self._tmp.name)
        self.log_dir = keep_logs or folder / "logs"
        layout = {"web_workers": web_workers, "web_threads": web_threads,
                  "signaling_workers": signaling_workers}  # fmt: skip
        self.stack = Stack(
            f"sqlite:///{folder / 'bench.db'}",
            extra_env={**BENCH_ENV, **extra_env},
            log_dir=self.log_dir,
            **{k: v for k, v in layout.items() if v is not None},  # else Stack's defaults
        )

    def __enter__(self) -> Target:
        try:
            self.stack.start()
        except BaseException:
            self.stack.stop()
            self._tmp.cleanup()
            raise
        return Target(
            "chimecast",
            self.stack.signaling_url,
            self.stack.web_url,
            self.stack.processes["signaling"].pid,
            [
                f"temporary system on SQLite, logs in {self.log_dir}",
                f"signaling daemon pid {self.stack.processes['signaling'].pid} "
                f"(--workers {self.stack.signaling_workers}: CPU of its whole process tree), "
                f"gunicorn pid {self.stack.processes['web'].pid} ({self.stack.web_workers} "
                f"workers x {self.stack.web_threads} threads)",
            ],
            web_pid=self.stack.processes["web"].pid,
        )

    def __exit__(self, *exc_info) -> None:
        self.stack.stop()
        self._tmp.cleanup()


class ReferenceRelay:
    """The bare gevent-websocket relay (signaling.bench.reference) as a child process."""

    def __init__(self, host: str = "127.0.0.1", nodelay: bool = False) -> None:
        self.host = host
        self.nodelay = nodelay
        self.port = free_port(host)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        argv = [sys.executable, "-m", "signaling.bench.reference", "--host", self.host,
                "--port", str(self.port)] + (["--nodelay"] if self.nodelay else [])  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env)
        try:
            wait_http_ok(f"http://{self.host}:{self.port}/healthz", 20, self.process)
        except BaseException:
            stop_process(self.process)
            raise
        return Target("gevent", f"ws://{self.host}:{self.port}/ws", None, self.process.pid,
                      ["bare gevent-websocket relay, no auth, no database"
                       + (", TCP_NODELAY set" if self.nodelay else "")])  # fmt: skip

    def __exit__(self, *exc_info) -> None:
        if self.process is not None:
            stop_process(self.process)


class Running:
    """A system someone else runs: the tool only connects to it."""

    def __init__(
        self, web_url: str, signaling_url: str, server_pid: int | None, web_pid: int | None
    ) -> None:
        self.target = Target(
            "chimecast", signaling_url, web_url.rstrip("/"), server_pid, web_pid=web_pid
        )
        if server_pid is None:
            self.target.notes.append("no --server-pid: server CPU and RSS are not reported")

    def __enter__(self) -> Target:
        return self.target

    def __exit__(self, *exc_info) -> None:
        pass
