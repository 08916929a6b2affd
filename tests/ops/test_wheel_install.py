"""A wheel installed into a fresh venv runs from an empty directory: no checkout needed.

Builds the wheel (`pip wheel --no-deps .`), installs it with the README's production
extras (plus `client` for the call) into a new venv, and from an empty working directory
with no PYTHONPATH: /readyz refuses the unmigrated database, `chimecast db upgrade`
migrates it with the migrations inside the wheel, `chimecast-web` serves with the shipped
gunicorn config, `chimecast-signaling` serves the socket, and the installed client calls.
Dependencies come from pip's cache; on this machine the whole test takes about a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.devstack import free_port, stop_process, wait_http_ok
from tests.ops.helpers import requests_total

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done


def readyz(web_url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{web_url}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding the wheel built from this checkout."""
    base = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", base / "dist"])
    (wheel,) = (base / "dist").glob("chimecast-*.whl")
    run([sys.executable, "-m", "venv", base / "venv"])
    bin_dir = base / "venv" / "bin"
    run([bin_dir / "pip", "install", "-q", f"{wheel}[postgres,redis,client]"])
    print(f"wheel built and installed in {time.monotonic() - started:.1f} s")
    return bin_dir


def test_the_wheel_carries_the_migrations_and_the_deploy_files(installed):
    done = run(
        [installed / "python", "-c", "from app import shipped; print(shipped.migrations_dir());"
         "print(shipped.deploy_file('gunicorn.conf.py'))"],
        cwd=installed,
    )  # fmt: skip
    migrations, config = done.stdout.split()
    venv = str(installed.parent)
    assert migrations.startswith(venv) and Path(migrations, "versions").is_dir()
    assert Path(migrations, "env.py").is_file() and Path(migrations, "alembic.ini").is_file()
    assert config.startswith(venv) and Path(config).is_file()
    assert Path(config).with_name("systemd").is_dir()


def test_installed_wheel_migrates_serves_and_calls_from_an_empty_directory(installed, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    web_port, daemon_port = free_port(), free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIMECAST_", "PYTHON"))}
    env.update(
        PATH=f"{installed}{os.pathsep}{env.get('PATH', '')}",
        CHIMECAST_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'chimecast.db'}",
        CHIMECAST_PUBLIC_URL=web_url,
        CHIMECAST_SIGNALING_URL=f"ws://127.0.0.1:{daemon_port}/ws",
        WEB_CONCURRENCY="2",
    )
    (tmp_path / "data").mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = []

    def spawn(name: str, argv: list[str]) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        process = subprocess.Popen(argv, cwd=empty, env=env, stdout=out, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        web = spawn("web", [str(installed / "chimecast-web"), "--bind", f"127.0.0.1:{web_port}"])
        wait_http_ok(f"{web_url}/healthz", 60, web)
        status, body = readyz(web_url)
        assert (status, body["error"]) == (503, "migrations_pending"), body

        run([installed / "chimecast", "db", "upgrade"], cwd=empty, env=env, timeout=120)
        status, body = readyz(web_url)
        assert status == 200 and body["status"] == "ready", body

        daemon = spawn(
            "signaling",
            [str(installed / "chimecast-signaling"), "--host", "127.0.0.1", "--port",
             str(daemon_port)],
        )  # fmt: skip
        wait_http_ok(f"http://127.0.0.1:{daemon_port}/healthz", 60, daemon)

        call = run(
            [installed / "python", Path(__file__).with_name("one_call.py"), web_url],
            cwd=empty, env=env, timeout=120,
        )  # fmt: skip
        result = json.loads(call.stdout)
        assert result["client"].startswith(str(installed.parent)), result
        assert result["signaling_url"] == f"ws://127.0.0.1:{daemon_port}/ws"

        # The shipped config's Prometheus directory: two workers, one monotonic count.
        counts = []
        for _ in range(6):
            wait_http_ok(f"{web_url}/healthz", 5)
            counts.append(requests_total(web_url))
        assert counts == sorted(counts) and counts[-1] >= 6, counts
        assert list(empty.iterdir()) == []  # nothing was written to (or needed in) the cwd
    finally:
        for process in reversed(processes):
            stop_process(process)
