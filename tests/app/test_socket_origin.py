"""The daemon's default browser policy: only the web app's own origin (CHIMECAST_PUBLIC_URL)."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit

import pytest

from app.devstack import Stack
from signaling.settings import Settings
from tests.conftest import database_url_for

pytestmark = pytest.mark.timeout(60)


def handshake_status(ws_url: str, origin: str | None) -> int:
    """The HTTP status the daemon answers a WebSocket handshake with."""
    target = urlsplit(ws_url)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target.path} HTTP/1.1",
        f"Host: {target.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *([f"Origin: {origin}"] if origin is not None else []),
    ]
    with socket.create_connection((target.hostname, target.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_settings_default_the_allowed_origins_to_the_public_url():
    settings = Settings.from_config({"PUBLIC_URL": "https://chime.example", "ALLOWED_ORIGINS": []})
    assert settings.allowed_origins == ("https://chime.example",)
    listed = Settings.from_config({"PUBLIC_URL": "https://a", "ALLOWED_ORIGINS": ["https://b"]})
    assert listed.allowed_origins == ("https://b",)
    assert Settings.from_config({}).allowed_origins == ()


@pytest.mark.slow
def test_daemon_accepts_only_the_web_apps_own_origin_when_none_are_configured(tmp_path):
    env = {
        "CHIMECAST_ENV": "development",
        "CHIMECAST_ALLOWED_ORIGINS": "",  # unset: the default policy is under test
        "CHIMECAST_ARGON2_TIME_COST": "1",
        "CHIMECAST_ARGON2_MEMORY_KIB": "1024",
    }
    with Stack(database_url_for(tmp_path), extra_env=env, log_dir=tmp_path / "logs") as stack:
        web = urlsplit(stack.web_url)
        daemon = urlsplit(stack.signaling_url)
        assert handshake_status(stack.signaling_url, stack.web_url) == 101
        assert handshake_status(stack.signaling_url, None) == 101, "non-browser clients"
        refused = [
            f"http://{web.hostname}:{daemon.port}",  # the daemon's own host and port
            f"https://{web.hostname}:{web.port}",  # another scheme
            f"http://{web.hostname}:{web.port + 1}",  # another port
            f"http://localhost:{web.port}",  # another host name
            "http://evil.example",
            "null",
        ]
        for origin in refused:
            assert handshake_status(stack.signaling_url, origin) == 403, origin
