"""The single-page web client: `/`, its security headers and `/client-config`."""

from app.web.routes import bp

__all__ = ["bp"]
