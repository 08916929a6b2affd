"""Operational endpoints: health, readiness, the OpenAPI document."""

from app.system.routes import bp

__all__ = ["bp"]
