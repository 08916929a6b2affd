"""Signaling daemons that are alive: one row per node, refreshed on its heartbeat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.models.base import Base, UTCDateTime


class Node(Base):
    """A signaling daemon (`node_id`), as its own heartbeat last described it.

    A node is live while `seen_at` is newer than NODE_STALE_AFTER and it is not
    `stopping`. Connection rows of a node that is not live count for nobody's presence,
    and any live daemon may sweep them (README "Liveness").
    """

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopping: Mapped[bool] = mapped_column(default=False)  # set by a clean shutdown
