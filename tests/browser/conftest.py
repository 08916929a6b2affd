"""Browser tests drive Debian's Chromium through Playwright; without it they are skipped."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.browser.helpers import CHROMIUM, OPEN_USERS  # importable without Playwright


@pytest.fixture(autouse=True)
def _require_chromium() -> None:
    """Skip (never pass) when the browser or Playwright is missing; runs before `stack`."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found: the browser tests need Debian's chromium package")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[browser]')")


@pytest.fixture(autouse=True)
def _forget_users() -> None:
    OPEN_USERS.clear()
