"""Run the whole system (web + signaling) as real processes: `chimecast-dev`, tests, the bench.

`Stack` migrates the database, starts gunicorn (the Flask app) and the signaling daemon as
subprocesses that share one `CHIMECAST_*` environment, waits until both answer, and stops
them by PID. It never imports the daemon, so `app` keeps not depending on `signaling`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _free(host: str, port: int) -> bool:
    """Whether `port` can be bound on `host` right now."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_http_ok(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `process` died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{process.args[0]} exited with {process.returncode} before {url} answered"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last_error})")


def stop_process(process: subprocess.Popen, timeout: float = 10) -> int | None:
    """SIGTERM, wait, then SIGKILL; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


@dataclass
class Stack:
    """The web app and one or more signaling daemons on free ports of `host`."""

    database_url: str
    host: str = "127.0.0.1"
    web_port: int = 0
    signaling_ports: list[int] = field(default_factory=lambda: [0])
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    web_workers: int = 2
    web_threads: int = 4
    signaling_workers: int = 1  # `chimecast-signaling --workers N` per daemon (N > 1: Redis)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _metrics_dir: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.web_port = self.web_port or free_port(self.host)
        self.signaling_ports = [port or free_port(self.host) for port in self.signaling_ports]

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @property
    def signaling_url(self) -> str:
        """The first daemon's URL ("" for a stack started with no daemons)."""
        return self.signaling_urls[0] if self.signaling_urls else ""

    @property
    def signaling_urls(self) -> list[str]:
        return [f"ws://{self.host}:{port}/ws" for port in self.signaling_ports]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "CHIMECAST_DATABASE_URL": self.database_url,
                "CHIMECAST_SECRET_KEY": env.get("CHIMECAST_SECRET_KEY") or secrets.token_hex(32),
                "CHIMECAST_PUBLIC_URL": self.web_url,
                "CHIMECAST_SIGNALING_URL": self.signaling_url,
                "CHIMECAST_ALLOWED_ORIGINS": f"{self.web_url},http://localhost:{self.web_port}",
                # Test and bench populations register hundreds of users from 127.0.0.1.
                "CHIMECAST_REGISTRATION_LIMIT": "1000000",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        else:
            out = None
        process = subprocess.Popen(
            argv, cwd=ROOT, env={**self._env, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=self._env,
            check=True,
            capture_output=True,
        )

    def start_web(self) -> subprocess.Popen:
        # The shipped production config, with this stack's address and sizes on top. It
        # makes (and on exit deletes) the directory where /metrics sums every worker.
        config = ["-c", str(GUNICORN_CONFIG)] if GUNICORN_CONFIG.is_file() else []
        extra = {}
        if not config and not self._env.get("PROMETHEUS_MULTIPROC_DIR"):
            self._metrics_dir = tempfile.mkdtemp(prefix="chimecast-prom-")
            extra["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        process = self._spawn(
            "web",
            [
                sys.executable, "-m", "gunicorn", *config,
                "--bind", f"{self.host}:{self.web_port}",
                "--workers", str(self.web_workers),
                "--worker-class", "gthread", "--threads", str(self.web_threads),
                "--no-control-socket",
                "--graceful-timeout", "5",
                "wsgi:app",
            ],
            extra,
        )  # fmt: skip
        wait_http_ok(f"{self.web_url}/readyz", 30, process)
        return process

    def start_signaling(self, index: int = 0) -> subprocess.Popen:
        port = self.signaling_ports[index]
        name = f"signaling{index}" if index else "signaling"
        argv = [sys.executable, "-m", "signaling", "--host", self.host, "--port", str(port)]
        if self.signaling_workers > 1:
            argv += ["--workers", str(self.signaling_workers)]
        process = self._spawn(name, argv)
        wait_http_ok(f"http://{self.host}:{port}/healthz", 30, process)
        return process

    def start(self) -> Stack:
        self._env = self.env()
        self.migrate()
        self.start_web()
        for index in range(len(self.signaling_ports)):
            self.start_signaling(index)
        return self

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            stop_process(process)
        if self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            self._metrics_dir = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """`chimecast-dev`: migrate the SQLite database and run web + signaling until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--web-port", type=int, default=8000, help="0 picks free ports for web and signaling"
    )
    parser.add_argument("--signaling-port", type=int, default=None, help="default 8001")
    args = parser.parse_args(argv)
    if args.signaling_port is None:
        args.signaling_port = 0 if args.web_port == 0 else 8001
    busy = [
        port for port in (args.web_port, args.signaling_port) if port and not _free(args.host, port)
    ]
    if busy:
        print(
            f"chimecast-dev: port {busy[0]} on {args.host} is in use; "
            "stop what holds it or pass --web-port 0 for free ports",
            file=sys.stderr,
        )
        return 1
    instance = ROOT / "instance"
    instance.mkdir(exist_ok=True)
    database_url = (
        os.environ.get("CHIMECAST_DATABASE_URL") or f"sqlite:///{instance / 'chimecast.db'}"
    )
    stack = Stack(
        database_url, args.host, args.web_port, [args.signaling_port], extra_env={}, log_dir=None
    )
    try:
        stack.start()
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        stack.stop()
        print(f"chimecast-dev: could not start: {exc}", file=sys.stderr)
        return 1
    print(
        f"\nChimeCast is running.\n  Open      {stack.web_url}/  (two browser windows, two accounts)\n"
        f"  API       {stack.web_url}/openapi.json\n  Signaling {stack.signaling_url}\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    stopping = False

    def _stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping and all(p.poll() is None for p in stack.processes.values()):
        time.sleep(0.5)
    stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
