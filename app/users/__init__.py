"""The signed-in user's account and sessions, and finding other users."""

from app.users.routes import bp

__all__ = ["bp"]
