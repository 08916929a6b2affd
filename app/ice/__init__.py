"""STUN/TURN configuration for clients, with coturn REST-API credentials."""

from app.ice.routes import bp

__all__ = ["bp"]
