"""Real Janus processes for tests: a config of our own on loopback, no system service.

Each node loads only the HTTP transport (API and Admin API on 127.0.0.1, free ports) and
the VideoRoom plugin, with stored-token auth on and a VideoRoom admin_key, so clients can
neither reach Janus without a token ChimeCast added nor create rooms of their own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from app.janus.client import JanusAdmin, JanusError

JANUS = shutil.which("janus")
LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
ADMIN_SECRET = "test-admin-secret"
ADMIN_KEY = "test-room-admin-key"
SKIP_REASON = "janus is not installed (apt-get install janus; .ci/run installs it)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JanusNode:
    process: subprocess.Popen
    api: str
    admin_url: str
    log: Path

    @property
    def setting(self) -> str:
        """This node as one entry of CHIMECAST_JANUS_URLS."""
        return f"{self.api}|{self.admin_url.replace('://', f'://:{ADMIN_SECRET}@', 1)}"

    @property
    def admin(self) -> JanusAdmin:
        return JanusAdmin(self.admin_url, ADMIN_SECRET, ADMIN_KEY)

    def kill(self) -> None:
        """Gone for good (SIGKILL), as a crashed host would be."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _folder(base: Path, name: str, libraries: list[str]) -> Path:
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    for library in libraries:
        (folder / library).symlink_to(LIBDIR / name / library)
    return folder


def start_janus(base: Path, timeout: float = 15.0) -> JanusNode:
    """Start one Janus with a config rendered into `base`; returns once its Admin API answers."""
    base.mkdir(parents=True, exist_ok=True)
    api_port, admin_port = free_port(), free_port()
    plugins = _folder(base, "plugins", ["libjanus_videoroom.so"])
    transports = _folder(base, "transports", ["libjanus_http.so"])
    empty = _folder(base, "none", [])
    (base / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{base}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{empty}"
    loggers_folder = "{empty}"
    debug_level = 4
    admin_secret = "{ADMIN_SECRET}"
    token_auth = true
    session_timeout = 30
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_ignore_list = "vmnet"
}}
"""
    )
    (base / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    base_path = "/janus"
    http = true
    port = {api_port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_port = {admin_port}
    admin_ip = "127.0.0.1"
    admin_https = false
}}
"""
    )
    (base / "janus.plugin.videoroom.jcfg").write_text(
        f'general: {{\n    admin_key = "{ADMIN_KEY}"\n}}\n'
    )
    log = base / "janus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [JANUS or "janus", "-F", str(base), "-C", str(base / "janus.jcfg"), "-o"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = JanusNode(
        process,
        f"http://127.0.0.1:{api_port}/janus",
        f"http://127.0.0.1:{admin_port}/admin",
        log,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            node.admin.ping()
            return node
        except JanusError:
            if process.poll() is not None or time.monotonic() > deadline:
                node.stop()
                raise RuntimeError(f"janus did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)
