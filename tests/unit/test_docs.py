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


def test_the_readme_map_of_signaling_names_every_module_and_only_those():
    """README "Where is X": each folder line lists exactly the modules in that folder."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("**Where is X**", 1)[1].split("```", 2)[1]
    block = re.sub(r"\([^)]*\)", " ", block)  # remarks in parentheses, across lines too
    listed: dict[str, set[str]] = {}
    folder = None
    for line in block.splitlines():
        head = re.match(r"\s*([a-z_/]+/)\s", line + " ")
        if head:
            folder = head.group(1)
            if not folder.startswith(("signaling/", "app/")):
                folder = "signaling/" + folder
            line = line[head.end() :]
        if folder:
            listed.setdefault(folder, set()).update(re.findall(r"[A-Za-z_]+(?:\.md)?", line))
    assert "signaling/transport/" in listed and "signaling/state/" in listed, listed.keys()
    for folder, names in listed.items():
        if folder.startswith("app/") or folder == "signaling/bench/":
            continue  # named for where to look, not listed in full
        present = {
            path.stem if path.suffix == ".py" else path.name
            for path in (ROOT / folder).iterdir()
            if path.suffix == ".py" or path.name.endswith(".md")
        } - {"__init__"}
        present -= {"RESULTS.md"}
        names = {name for name in names if name not in ("chimecast", "bench")} - {"__init__"}
        if folder == "signaling/":
            present -= {"__init__"}
        assert names == present, (
            f"{folder}: README lists {sorted(names - present)} that do not exist, misses {sorted(present - names)}"
        )
