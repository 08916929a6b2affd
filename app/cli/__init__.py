"""Admin commands: `flask users ...`, `flask sessions ...`, `flask calls ...`."""

from __future__ import annotations

from flask import Flask

from app.cli.calls import calls
from app.cli.sessions import sessions
from app.cli.users import users


def init_app(app: Flask) -> None:
    """Register the admin command groups on `app`."""
    for group in (users, sessions, calls):
        app.cli.add_command(group)
