"""Media tests run aiortc peers on 127.0.0.1 only."""

from __future__ import annotations

import pytest

from signaling.client.media import use_loopback_only


@pytest.fixture(autouse=True)
def _loopback_ice():
    use_loopback_only()
