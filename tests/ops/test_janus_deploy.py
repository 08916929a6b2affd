"""deploy/janus/*.jcfg run a real Janus as ChimeCast needs it: only the VideoRoom and the
HTTP transport, token auth on, rooms only with the admin key, CORS for ChimeCast's origin."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from app.janus.client import JanusAdmin, JanusError, JanusSession
from tests.janus import JANUS, SKIP_REASON, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "janus"
pytestmark = pytest.mark.timeout(60)


def _render(target: Path, api_port: int, admin_port: int) -> None:
    """The deploy files with this test's folder, ports and secrets; nothing else changed."""
    for source in DEPLOY.glob("*.jcfg"):
        text = source.read_text()
        text = text.replace('configs_folder = "/etc/janus"', f'configs_folder = "{target}"')
        text = re.sub(r"(?m)^(\s*port = )8088$", rf"\g<1>{api_port}", text)
        text = re.sub(r"(?m)^(\s*admin_port = )7088$", rf"\g<1>{admin_port}", text)
        (target / source.name).write_text(text)


def test_the_deployed_janus_config_serves_chimecast_and_nobody_else(tmp_path):
    if JANUS is None:
        pytest.skip(SKIP_REASON)
    api_port, admin_port = free_port(), free_port()
    _render(tmp_path, api_port, admin_port)
    log = (tmp_path / "janus.log").open("wb")
    process = subprocess.Popen(
        [JANUS, "-F", str(tmp_path), "-C", str(tmp_path / "janus.jcfg"), "-o"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api, admin_url = f"http://127.0.0.1:{api_port}/janus", f"http://127.0.0.1:{admin_port}/admin"
    admin = JanusAdmin(admin_url, "CHANGE-ME-admin-secret", "CHANGE-ME-room-admin-key")
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                admin.ping()
                break
            except JanusError:
                assert process.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "janus.log"
                ).read_text()[-2000:]
                time.sleep(0.1)
        info = requests.get(f"{api}/info", timeout=5).json()
        assert list(info["plugins"]) == ["janus.plugin.videoroom"]
        assert list(info["transports"]) == ["janus.transport.http"]
        with pytest.raises(JanusError) as refused:
            JanusSession(api, None)
        assert refused.value.code == 403  # token auth
        with pytest.raises(JanusError) as refused:
            JanusAdmin(admin_url, "CHANGE-ME-admin-secret").create_room(1, "s", 4, "x")
        assert refused.value.code == 429  # rooms need the admin key (missing element)
        admin.create_room(7, "room-secret", 4, "ChimeCast")
        admin.add_token("participant-token")
        session = JanusSession(api, "participant-token")
        assert session.attach()
        origin = requests.options(
            f"{api}", headers={"Origin": "https://chime.example"}, timeout=5
        ).headers.get("Access-Control-Allow-Origin")
        assert origin == "https://chime.example"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
