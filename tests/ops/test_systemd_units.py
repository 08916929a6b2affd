"""The shipped systemd units load cleanly (`systemd-analyze verify`) and are sandboxed."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
PREFIX = "/opt/chimecast/venv/bin"
LONG_RUNNING = ["chimecast-web.service", "chimecast-signaling@.service", "chimecast-worker.service"]
ALL_UNITS = [*LONG_RUNNING, "chimecast-migrate.service"]


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string((UNITS / name).read_text())
    return parser


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if os.path.exists("/usr/bin/systemd-analyze") else None
    )
    if path is None:
        message = "systemd-analyze is not installed (Debian package systemd)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.mark.parametrize("name", ALL_UNITS)
def test_unit_passes_systemd_analyze_verify(name, tmp_path):
    """ExecStart= must name an executable, so the venv prefix becomes this test's venv."""
    binary = systemd_analyze()
    bin_dir = str(Path(sys.executable).parent)
    for unit in UNITS.glob("*.service"):
        (tmp_path / unit.name).write_text(unit.read_text().replace(PREFIX, bin_dir))
    target = name.replace("@.service", "@8001.service")
    done = subprocess.run(
        [binary, "verify", str(tmp_path / target)], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in done.stderr.splitlines() if "chimecast" in line]
    assert done.returncode == 0 and complaints == [], done.stderr


@pytest.mark.parametrize("name", ALL_UNITS)
def test_unit_is_sandboxed_and_reads_the_environment_file(name):
    service = read_unit(name)["Service"]
    assert service.get("User") == "chimecast" or service.get("DynamicUser") == "yes"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "ReadWritePaths": "/var/lib/chimecast",
        "EnvironmentFile": "/etc/chimecast/chimecast.env",
        "CapabilityBoundingSet": "",
    }.items():
        assert service.get(key) == value, (name, key)
    assert service["ExecStart"].startswith(PREFIX + "/chimecast")


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_units_restart_and_start_at_boot(name):
    unit = read_unit(name)
    assert unit["Service"]["Restart"] in ("on-failure", "always")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_daemon_unit_is_a_template_listening_on_its_instance_port():
    exec_start = read_unit("chimecast-signaling@.service")["Service"]["ExecStart"]
    assert exec_start.endswith("--port %i") and "--host 127.0.0.1" in exec_start
