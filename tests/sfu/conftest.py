"""Fixtures for SFU meetings: real Janus nodes, and apps configured with them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import aioice.ice
import pytest
from flask import Flask
from flask_migrate import upgrade

from app.config import load_settings
from signaling.client.media import HOST_ADDRESSES
from tests.app.conftest import make_app  # noqa: F401  (the app factory fixture)
from tests.conftest import Auth
from tests.janus import ADMIN_KEY, JANUS, SKIP_REASON, JanusNode, start_janus


@pytest.fixture(autouse=True)
def _janus_reachable_ice(monkeypatch):
    """Janus gathers ICE candidates on the host's interfaces and never on loopback, so the
    aiortc peers here must too: tests that ran before (tests/media, tests/scale/test_turn)
    left aioice on loopback only for the whole process, and every SFU peer then timed out
    in a full run while passing alone. The traffic still never leaves the machine."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", HOST_ADDRESSES)


@pytest.fixture
def janus_nodes(tmp_path) -> Iterator[Callable[[], JanusNode]]:
    """janus_nodes() -> one more running Janus node; all are stopped afterwards."""
    if JANUS is None:
        if os.environ.get("CI") == "true":
            pytest.fail(SKIP_REASON + ": CI must run the SFU tests")
        pytest.skip(SKIP_REASON)
    started: list[JanusNode] = []

    def start() -> JanusNode:
        node = start_janus(tmp_path / f"janus{len(started)}")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def sfu_app(make_app, janus_nodes) -> Callable[..., Flask]:  # noqa: F811
    """sfu_app(node, ...) -> an app whose CHIMECAST_JANUS_URLS lists those nodes, on a
    database built by the migrations (so /readyz is ready and the new columns are real)."""

    def build(*nodes: JanusNode, **overrides) -> Flask:
        setting = ",".join(node.setting for node in nodes)
        parsed = load_settings({"CHIMECAST_JANUS_URLS": setting})["JANUS_URLS"]
        app = make_app(
            create=False,
            JANUS_URLS=parsed,
            JANUS_ADMIN_KEY=ADMIN_KEY,
            JANUS_HEALTH_INTERVAL=0.5,
            **overrides,
        )
        with app.app_context():
            upgrade()
        return app

    return build


@pytest.fixture
def users(sfu_app):
    """users(app, *names) -> Authorization headers of registered, logged-in users."""

    def make(app: Flask, *names: str) -> list[dict[str, str]]:
        auth = Auth(app.test_client())
        return [auth.headers(name) for name in names]

    return make
