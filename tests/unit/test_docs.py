"""The README and the code must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import PREFIX, SETTINGS, markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SOURCES = [*(ROOT / "app").rglob("*.py"), *(ROOT / "signaling").rglob("*.py"),
           *(ROOT / "deploy").rglob("*.py"), ROOT / "wsgi.py"]  # fmt: skip
# How code reads the process environment (not a WSGI environ: that one is never `os.`).
READS = re.compile(
    r"""os\.environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]+)["']"""
    r"""|os\.getenv\(\s*["']([A-Z][A-Z0-9_]+)["']"""
    r"""|["']([A-Z][A-Z0-9_]+)["']\s+(?:not\s+)?in\s+os\.environ"""
    r"""|["'](CHIMECAST_[A-Z0-9_]+)["']"""
)


def documented() -> set[str]:
    """Variables in the README's configuration tables (rows of `| \\`NAME\\` | ...`)."""
    names: set[str] = set()
    for table in ("config-table", "process-env-table"):
        body = README.split(f"<!-- {table} -->")[1].split(f"<!-- /{table} -->")[0]
        names |= set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", body, re.MULTILINE))
    return names


def read_in_code() -> set[str]:
    names = {PREFIX + s.key for s in SETTINGS}
    for path in SOURCES:
        for match in READS.finditer(path.read_text()):
            names.add(next(group for group in match.groups() if group))
    return names


def test_every_variable_the_code_reads_is_documented():
    missing = read_in_code() - documented()
    assert not missing, f"add to README's configuration tables: {sorted(missing)}"


def test_every_documented_variable_is_read_by_the_code():
    stale = documented() - read_in_code()
    assert not stale, f"documented but read nowhere: {sorted(stale)}"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_every_setting_has_a_row_in_the_generated_table(setting):
    assert f"| `CHIMECAST_{setting.key}` |" in markdown_table()
    assert f"| `CHIMECAST_{setting.key}` |" in README


def test_the_readme_mentions_no_client_attribute_that_does_not_exist():
    from signaling.client.api import ApiClient

    for attribute in re.findall(r"\bapi\.([a-z_]+)\b", README):
        assert hasattr(ApiClient, attribute), attribute
