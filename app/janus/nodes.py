"""The Janus nodes of `CHIMECAST_JANUS_URLS`: health checks, and where a new room goes.

Each process checks a node when it needs it and trusts the answer for
JANUS_HEALTH_INTERVAL seconds; a node that fails a check (or a request) is down until a
later check succeeds, and gets no new rooms meanwhile. Load is the number of open SFU
meetings placed on a node, read from the database, so every process sees the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.extensions import db
from app.janus.client import JanusAdmin, JanusError
from app.models import JanusWithdrawal, MediaPath, Meeting, MeetingState

log = logging.getLogger(__name__)
EXTENSION = "chimecast_janus"
PING_TIMEOUT = 1.0


@dataclass
class Node:
    """One Janus node: `api` (the URL clients use, also its name) and its Admin API."""

    api: str
    admin: JanusAdmin
    up: bool | None = None  # None: never checked
    checked_at: float = field(default=float("-inf"))


class NodePool:
    """The configured nodes of one process, with their last known health."""

    def __init__(self, nodes: list[dict[str, str]], admin_key: str, interval: float) -> None:
        self.nodes = [
            Node(n["api"], JanusAdmin(n["admin"], n["admin_secret"], admin_key)) for n in nodes
        ]
        self.interval = interval
        self._lock = threading.Lock()

    def node(self, api: str) -> Node | None:
        return next((n for n in self.nodes if n.api == api), None)

    def healthy(self, node: Node, fresh: bool = False) -> bool:
        """Whether `node` answers, checked again when the last check is older than the
        interval (or `fresh`)."""
        with self._lock:
            stale = fresh or time.monotonic() - node.checked_at >= self.interval
        if stale:
            try:
                _ping(node)
                self._record(node, True)
            except JanusError as exc:
                self._record(node, False, str(exc))
        return bool(node.up)

    def mark_down(self, node: Node, reason: str) -> None:
        """A request to `node` failed: give it no new rooms until a check succeeds."""
        self._record(node, False, reason)

    def _record(self, node: Node, up: bool, reason: str = "") -> None:
        with self._lock:
            if node.up is not False and not up:
                log.warning("janus node down node=%s reason=%s", node.api, reason)
            elif node.up is False and up:
                log.info("janus node back node=%s", node.api)
            node.up, node.checked_at = up, time.monotonic()

    def status(self) -> list[dict[str, Any]]:
        """Every node's health (checked if stale) and open rooms, for /readyz."""
        loads = rooms_per_node()
        return [
            {"url": n.api, "up": self.healthy(n), "rooms": loads.get(n.api, 0)} for n in self.nodes
        ]

    def candidates(self) -> list[Node]:
        """Healthy nodes, least loaded first (ties: in configured order)."""
        loads = rooms_per_node()
        ranked = sorted(self.nodes, key=lambda n: loads.get(n.api, 0))
        return [n for n in ranked if self.healthy(n)]


def _ping(node: Node) -> None:
    JanusAdmin(node.admin.url, node.admin.secret, timeout=PING_TIMEOUT).ping()


def rooms_per_node() -> dict[str, int]:
    """Open SFU meetings per node, from the database."""
    rows = db.session.execute(
        select(Meeting.janus_node, func.count())
        .where(Meeting.state == MeetingState.OPEN.value, Meeting.media == MediaPath.SFU.value)
        .group_by(Meeting.janus_node)
    )
    return {node: count for node, count in rows if node}


def pool() -> NodePool | None:
    """This app's node pool, or None when no Janus node is configured."""
    return current_app.extensions.get(EXTENSION)


class JanusGauges(Collector):
    """`chimecast_janus_node_up` and `chimecast_janus_rooms` per node, and
    `chimecast_janus_withdrawals_pending`, at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "chimecast_janus_node_up",
            "1 when the Janus node answers its health check",
            labels=["node"],
        )
        rooms = GaugeMetricFamily(
            "chimecast_janus_rooms", "Open SFU meetings placed on the Janus node", labels=["node"]
        )
        pending = GaugeMetricFamily(
            "chimecast_janus_withdrawals_pending",
            "Removed seats' Janus tokens not confirmed taken back yet (retried by the daemon)",
        )
        with self.app.app_context():
            nodes = pool()
            status = nodes.status() if nodes else []
            pending.add_metric([], db.session.scalar(select(func.count(JanusWithdrawal.id))) or 0)
            db.session.remove()
        for node in status:
            up.add_metric([node["url"]], 1 if node["up"] else 0)
            rooms.add_metric([node["url"]], node["rooms"])
        yield from (up, rooms, pending)


def init_app(app: Flask) -> None:
    """Give the app its node pool when Janus nodes are configured."""
    nodes = app.config.get("JANUS_URLS") or []
    if nodes:
        app.extensions[EXTENSION] = NodePool(
            nodes, app.config["JANUS_ADMIN_KEY"], app.config["JANUS_HEALTH_INTERVAL"]
        )
