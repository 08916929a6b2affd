"""Registration, login and logout."""

from app.auth.routes import bp

__all__ = ["bp"]
