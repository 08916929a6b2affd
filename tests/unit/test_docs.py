"""The README and the code must not drift apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import SETTINGS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_every_setting_is_in_the_readme_configuration_table(setting):
    assert f"| `CHIMECAST_{setting.key}` |" in README
