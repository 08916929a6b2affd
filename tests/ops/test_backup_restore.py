"""The runbook's backup and restore commands (deploy/README.md) on a running system.

SQLite: `sqlite3 DB ".backup 'FILE'"` while the web app keeps registering users gives a
consistent copy; the restore (file back, WAL and shared-memory files removed) serves the
users of the backup. PostgreSQL (when the suite runs on it): `pg_dump --format=custom`
and `pg_restore --clean --if-exists --no-owner`, the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from app.devstack import Stack
from signaling.client.api import ApiClient
from tests.conftest import PASSWORD, database_url_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (the runbook uses it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def register(web_url: str, names: list[str]) -> None:
    for name in names:
        ApiClient(web_url).register(name, PASSWORD)


def can_log_in(web_url: str, name: str) -> bool:
    status, _ = ApiClient(web_url).request(
        "POST", "/login", {"username": name, "password": PASSWORD}
    )
    return status == 200


def backup(url: str, target: Path) -> None:
    """The runbook's online backup command for this database."""
    if url.startswith("sqlite"):
        database = url.removeprefix("sqlite:///")
        subprocess.run([tool("sqlite3"), database, f".backup '{target}'"], check=True)
    else:
        subprocess.run(
            [tool("pg_dump"), "--format=custom", f"--dbname={url}", f"--file={target}"],
            check=True,
        )


def restore(url: str, source: Path) -> None:
    """The runbook's restore, everything stopped."""
    if url.startswith("sqlite"):
        database = url.removeprefix("sqlite:///")
        shutil.copyfile(source, database)
        for suffix in ("-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
    else:
        subprocess.run(
            [tool("pg_restore"), "--clean", "--if-exists", "--no-owner", f"--dbname={url}",
             str(source)],
            check=True, capture_output=True,
        )  # fmt: skip


def test_online_backup_during_writes_restores_to_a_serving_system(tmp_path):
    url = database_url_for(tmp_path)
    env = {"CHIMECAST_ARGON2_TIME_COST": "1", "CHIMECAST_ARGON2_MEMORY_KIB": "1024"}
    before = [f"before{i}" for i in range(5)]
    during = [f"during{i}" for i in range(30)]
    copy = tmp_path / "backup.db"
    with Stack(url, signaling_ports=[], extra_env=env, log_dir=tmp_path / "logs") as stack:
        register(stack.web_url, before)
        writer = threading.Thread(target=register, args=(stack.web_url, during))
        writer.start()
        backup(url, copy)
        writer.join(60)
        register(stack.web_url, ["after"])
    if url.startswith("sqlite"):
        check = subprocess.run(
            [tool("sqlite3"), str(copy), "PRAGMA integrity_check"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert check.stdout.strip() == "ok"
    restore(url, copy)
    with Stack(url, signaling_ports=[], extra_env=env, log_dir=tmp_path / "logs2") as stack:
        assert all(can_log_in(stack.web_url, name) for name in before)
        assert not can_log_in(stack.web_url, "after")  # written after the backup: gone
