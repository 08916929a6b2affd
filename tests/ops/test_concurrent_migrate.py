"""Several processes may run `chimecast db upgrade` at once: one migrates, the others wait.

The Procfile has every process type migrate on start (honcho has no one-shot release step),
so web, daemon and worker race on a fresh database every time `honcho start` runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from app import shipped
from app.config import normalize_database_url
from tests.conftest import database_url_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

MIGRATORS = 4


def test_concurrent_upgrades_all_succeed_and_leave_the_schema_at_head(tmp_path):
    url = database_url_for(tmp_path)
    chimecast = shutil.which("chimecast", path=os.path.dirname(sys.executable))
    assert chimecast, "install the package: pip install -e ."
    env = {**os.environ, "CHIMECAST_DATABASE_URL": url, "CHIMECAST_ENV": "development"}
    runs = [
        subprocess.Popen(
            [chimecast, "db", "upgrade"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(MIGRATORS)
    ]
    outputs = [run.communicate(timeout=150)[0] for run in runs]
    failed = [out for run, out in zip(runs, outputs, strict=True) if run.returncode != 0]
    assert failed == [], failed[0][-2000:] if failed else ""
    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    head = ScriptDirectory(shipped.migrations_dir()).get_current_head()
    assert version == [(head,)]
    assert not Path(tmp_path, "migrations").exists()  # nothing was looked up in the cwd
