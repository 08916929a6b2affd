"""Meetings: mesh group calls with a host, a waiting room and moderation."""

from app.meetings.routes import bp

__all__ = ["bp"]
