"""PeerJS server 1.0.2 as a benchmark reference: installed from npm on first use, run as a child.

`peer@1.0.2` goes into a cache folder outside the repository (default
`~/.cache/chimecast-bench/peerjs`, or `$CHIMECAST_BENCH_CACHE/peerjs`) with
`npm install --prefix <dir> peer@1.0.2`; later runs reuse it. The server is its `peerjs`
bin, `node <bin> --port P --path / --concurrent_limit 1000000` (its default 5,000 would
refuse a 10,000-connection scenario). Clients connect to `ws://host:P/peerjs?key=peerjs&
id=<id>&token=<token>` and get `{"type":"OPEN"}`; `OFFER`/`ANSWER`/`CANDIDATE` messages
with a `dst` are relayed with `src` stamped (signaling.bench.load_client.PeerJSConn).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from app.devstack import free_port, stop_process, wait_http_ok
from signaling.bench.target import Target

VERSION = "1.0.2"
KEY = "peerjs"  # the server's default key; clients must send it


def cache_dir() -> Path:
    root = os.environ.get("CHIMECAST_BENCH_CACHE") or Path.home() / ".cache" / "chimecast-bench"
    return Path(root) / "peerjs"


def bin_path(folder: Path) -> Path:
    return folder / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"


def unavailable() -> str | None:
    """Why PeerJS cannot run here (no node or npm), or None."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not on PATH" if missing else None


def installed_version(folder: Path) -> str | None:
    package = folder / "node_modules" / "peer" / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_installed(folder: Path | None = None) -> Path:
    """The peerjs bin script, installing `peer@VERSION` into `folder` first if needed.

    Raises RuntimeError with npm's last lines when node/npm are missing or npm fails.
    """
    folder = folder or cache_dir()
    script = bin_path(folder)
    if script.exists() and installed_version(folder) == VERSION:
        return script
    reason = unavailable()
    if reason:
        raise RuntimeError(f"--reference peerjs needs Node.js and npm: {reason}")
    folder.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        ["npm", "install", "--prefix", str(folder), f"peer@{VERSION}", "--no-audit",
         "--no-fund", "--loglevel", "error"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if completed.returncode != 0 or not script.exists():
        tail = (completed.stderr or completed.stdout)[-1500:]
        raise RuntimeError(f"npm install peer@{VERSION} failed ({completed.returncode}): {tail}")
    return script


class PeerJSServer:
    """PeerJS server as a child process; stopped by PID when the `with` block ends."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        script = ensure_installed()
        argv = ["node", str(script), "--host", self.host, "--port", str(self.port),
                "--path", "/", "--key", KEY, "--concurrent_limit", "1000000"]  # fmt: skip
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
        )
        try:
            # Its express app answers GET / with a JSON description once it listens.
            wait_http_ok(f"http://{self.host}:{self.port}/", 30, self.process)
        except BaseException:
            stop_process(self.process)
            raise
        url = f"ws://{self.host}:{self.port}/peerjs?key={KEY}"
        return Target("peerjs", url, None, self.process.pid, [
            f"PeerJS server {VERSION} (node {_node_version()}), pid {self.process.pid}, "
            f"installed in {cache_dir()}",
        ], protocol="peerjs")  # fmt: skip

    def __exit__(self, *exc_info) -> None:
        if self.process is not None:
            stop_process(self.process)


def _node_version() -> str:
    try:
        return subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
