"""Call records: start, accept, decline, end, history."""

from app.calls.routes import bp

__all__ = ["bp"]
