"""The listen backlog the kernel really gives, and the warning when somaxconn cuts it."""

from __future__ import annotations

import logging

from signaling.backlog import effective_backlog, somaxconn
from signaling.settings import Settings


def test_the_default_backlog_is_sized_for_a_storm_of_10000():
    assert Settings().listen_backlog >= 10_000


def test_a_lower_somaxconn_caps_the_backlog_and_says_how_to_raise_it(tmp_path, caplog):
    cap = tmp_path / "somaxconn"
    cap.write_text("4096\n")
    with caplog.at_level(logging.WARNING, logger="signaling.backlog"):
        assert effective_backlog(16384, str(cap)) == 4096
    [record] = caplog.records
    assert record.ctx["somaxconn"] == 4096
    assert record.ctx["fix"] == "sysctl -w net.core.somaxconn=16384"


def test_a_high_enough_or_unreadable_somaxconn_leaves_the_backlog_alone(tmp_path, caplog):
    cap = tmp_path / "somaxconn"
    cap.write_text("65535\n")
    with caplog.at_level(logging.WARNING, logger="signaling.backlog"):
        assert effective_backlog(16384, str(cap)) == 16384
        assert effective_backlog(16384, str(tmp_path / "absent")) == 16384
    assert caplog.text == ""
    assert somaxconn(str(tmp_path / "absent")) is None
