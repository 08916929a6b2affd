"""The daemon's limits and intervals, read once from the Flask config (`CHIMECAST_*`)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

OVERDUE_FACTOR = 4  # hello deadlines a client's request may wait for the database (`overdue`)


@dataclass(frozen=True)
class Settings:
    """Every knob of the daemon. Config keys are the upper-case field names (see from_config)."""

    max_message_bytes: int = 64 * 1024
    max_fragments: int = 64  # frames one message may be sliced into (else 1008)
    frames_per_message: int = 4  # frame budget (any frame, control frames too): this many
    # per message the rate allows, so MESSAGE_RATE x 4 a second in bursts of MESSAGE_BURST x 4
    listen_backlog: int = 16384  # accept queue for arrival bursts; capped by net.core.somaxconn
    handshake_timeout: float = 10.0  # the HTTP upgrade request must be complete by then
    hello_timeout: float = 5.0
    heartbeat_interval: float = 20.0  # ping a connection idle this long
    heartbeat_timeout: float = 45.0  # drop a connection silent this long
    write_timeout: float = 10.0  # a single frame write longer than this drops the reader
    send_queue_size: int = 256  # queued outgoing messages before a reader counts as too slow
    close_linger: float = 2.0  # how long a closing connection may take to finish
    max_connections_per_user: int = 10
    message_rate: float = 50.0  # messages per second, sustained
    message_burst: int = 100  # messages at once
    invalid_json_limit: int = 5  # invalid JSON frames tolerated before closing with 1007
    ring_timeout: float = 45.0
    reconnect_grace: float = 30.0
    ring_sweep_interval: float = 1.0
    # The outbox is read on a wake-up from the database (signaling.outbox.wake), at most once
    # per poll interval (a call start rings within ~25-35 ms), else once per fallback.
    outbox_poll_interval: float = 0.025
    outbox_fallback_interval: float = 1.0  # a lost wake-up delays an event by at most this
    outbox_wake: str = "auto"  # "off": no wake-up source, the fallback poll only
    node_refresh_interval: float = 2.0  # liveness beat (signaling.state.liveness)
    node_stale_after: float = 6.0  # a node silent this long is swept by a live one
    db_threads: int = 4  # from the app config: 2 on SQLite, 4 otherwise (app/config.py)
    allowed_origins: tuple[str, ...] = ()
    node_id: str = ""
    redis_url: str = ""  # set: daemons share a Redis bus (signaling.state.redis_hub)
    redis_namespace: str = ""  # default: a hash of the database URL (namespace_for below)

    @property
    def overdue(self) -> float:
        """How long a client's request waits for the database before the daemon answers that
        it could not (a hello: closed with a retry hint; call control: the error
        `database_unavailable`; signaling.state.runners): a few hello deadlines, and well
        within the heartbeat timeout, because the waiting connection's reader reads nothing
        meanwhile (pongs neither)."""
        return min(OVERDUE_FACTOR * self.hello_timeout, self.heartbeat_timeout / 2)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], port: int = 0, worker: int | None = None
    ) -> Settings:
        """Read the fields present in `config` (upper-case names); the rest keep defaults.

        The node id defaults to `<hostname>:<port>`, stable across restarts, so a daemon that
        crashed finds and deletes its stale presence rows when it comes back. Worker `n` of
        `--workers N` appends `/<n>` (to the default or to CHIMECAST_NODE_ID).
        """
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = field.name.upper()
            if config.get(key) not in (None, ""):
                values[field.name] = config[key]
        # Unset, only the web app's own origin may open a socket from a browser.
        public = config.get("PUBLIC_URL")
        allowed = config.get("ALLOWED_ORIGINS") or ([public] if public else [])
        values["allowed_origins"] = tuple(allowed)
        if values.get("redis_url") and not values.get("redis_namespace"):
            values["redis_namespace"] = namespace_for(str(config["SQLALCHEMY_DATABASE_URI"]))
        if not values.get("node_id"):
            values["node_id"] = f"{socket.gethostname()[:48]}:{port}"
        if worker is not None:
            values["node_id"] = f"{values['node_id']}/{worker}"
        return cls(**values)


def namespace_for(database_url: str) -> str:
    """The default namespace of a deployment: 16 hex digits of a SHA-256 of its database
    URL without the password, so daemons of one database share a bus, two installations
    on one Redis never do, and neither the URL nor the password is ever sent to Redis."""
    try:
        identity = make_url(database_url).render_as_string(hide_password=True)  # "***"
    except ArgumentError:  # an unparsable URL still names one database
        identity = database_url
    return hashlib.sha256(identity.encode()).hexdigest()[:16]
