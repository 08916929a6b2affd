"""The one source of "now", so tests can move time (`app.config["CLOCK"]`)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_app_context


def utcnow() -> datetime:
    """Current aware UTC time; an app's `CLOCK` callable overrides it (tests)."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(UTC)
