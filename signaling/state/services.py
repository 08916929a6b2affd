"""The daemon's shared services, handed to handlers, the outbox and presence tracking.

Tests build a `Services` with fake parts (store, timers, connections) and no network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from signaling.backoff import Outage
from signaling.settings import Settings
from signaling.state.admission import Admission
from signaling.state.call_cache import CallCache
from signaling.state.grace import GeventTimers, Grace, Timers
from signaling.state.hub import InMemoryHub
from signaling.state.presence import Presence
from signaling.state.redis_hub import RedisHub
from signaling.state.rosters import Rooms
from signaling.state.siblings import Siblings
from signaling.state.store import Store
from signaling.transport.heartbeats import Heartbeats
from signaling.transport.limits import KeyedBuckets


class RecentlyRevoked:
    """Session ids revoked in the last minute.

    A `hello` whose token check ran just before a logout, but whose connection was
    registered just after the outbox relay closed that session's sockets, is caught here.
    """

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._at: dict[int, float] = {}

    def add(self, session_id: int) -> None:
        self._at[session_id] = self._clock()

    def __contains__(self, session_id: object) -> bool:
        now = self._clock()
        for sid in [sid for sid, at in self._at.items() if now - at > self._ttl]:
            del self._at[sid]
        return session_id in self._at


@dataclass
class Services:
    """Everything a handler may use; one instance per daemon."""

    settings: Settings
    hub: InMemoryHub
    store: Store  # or, in tests, a fake with the same methods
    calls: CallCache
    timers: Timers
    revoked: RecentlyRevoked = field(default_factory=RecentlyRevoked)
    database: Outage = field(default_factory=lambda: Outage("database"))  # its outage log
    grace: Grace = field(init=False)
    presence: Presence = field(init=False)
    rooms: Rooms = field(init=False)
    heartbeats: Heartbeats = field(init=False)
    admission: Admission = field(init=False)  # hellos waiting to be served
    # chat, media state, hands and reactions fan out to a whole meeting: a tighter bound
    # per connection than the general message rate (signaling.handlers.room_messages)
    room_messages: KeyedBuckets = field(default_factory=lambda: KeyedBuckets(5.0, 30))
    shutting_down: bool = False

    def __post_init__(self) -> None:
        self.grace = Grace(self.timers)
        self.presence = Presence(self)
        self.rooms = Rooms(self)
        self.heartbeats = Heartbeats(self.settings.hello_timeout, self.settings.heartbeat_interval)
        # A newcomer may queue behind as much as the daemon serves in one hello deadline. A
        # hello's reader reads nothing (pongs neither) until it is answered: answer (1013 at
        # worst) well before the heartbeat timeout could close the connection as silent.
        settings = self.settings
        self.admission = Admission(settings.hello_timeout, overdue=settings.overdue)


def make_hub(settings: Settings, siblings: Siblings | None = None) -> InMemoryHub:
    """The in-process hub, or the Redis-backed one when CHIMECAST_REDIS_URL is set (with
    `siblings`, the links of a `--workers N` worker to the other workers)."""
    if not settings.redis_url:
        return InMemoryHub(settings.node_id)
    return RedisHub(
        settings.node_id,
        settings.redis_url,
        settings.redis_namespace,
        settings.node_refresh_interval,
        settings.node_stale_after,
        siblings,
    )


def build_services(
    settings: Settings,
    store: Store,
    timers: Timers | None = None,
    siblings: Siblings | None = None,
) -> Services:
    """Services around `store`, with an in-memory hub and a call cache that loads from it."""
    return Services(
        settings=settings,
        hub=make_hub(settings, siblings),
        store=store,
        calls=CallCache(store.membership),
        timers=timers or GeventTimers(),
    )
