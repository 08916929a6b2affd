"""The outbox relay: tails the `events` table and pushes each event to the users' devices.

The web app (and the daemon itself, through the call service) writes an `Event` row in the
same transaction as each call or session change. This module reads rows newer than the last
one it saw (when the database signals a write, else once a second: signaling.outbox.wake)
and translates each kind into the protocol
messages of PROTOCOL.md through the `{kind: translator}` table of signaling.outbox.

Ids are assigned at insert but become visible at commit, so on a database with concurrent
writers (PostgreSQL) a lower id can appear after a higher one: skipped ids are remembered as
gaps and asked for again for a few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from app import logs
from signaling import metrics
from signaling.outbox import TRANSLATORS
from signaling.state.services import Services
from signaling.state.store import OutboxEvent

log = logging.getLogger(__name__)


class OutboxRelay:
    """Reads new outbox rows and delivers them; `poll_once()` is one round."""

    GAP_TTL = 10.0  # seconds a skipped id is waited for (a rolled-back insert never appears)
    MAX_GAPS = 1000

    def __init__(
        self,
        services: Services,
        batch: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.batch = batch
        self.last_id = 0
        self.last_poll_ok = time.monotonic()  # for chimecast_signaling_outbox_lag_seconds
        self._gaps: dict[int, float] = {}
        self._clock = clock

    def start(self) -> None:
        """Begin after the newest event: older ones are reflected in `welcome` instead."""
        self.last_id = self.services.store.last_event_id()

    def poll_once(self) -> int:
        """Fetch and deliver the events not seen yet; returns how many."""
        now = self._clock()
        self._gaps = {i: at for i, at in self._gaps.items() if now - at < self.GAP_TTL}
        events = self.services.store.events_after(self.last_id, sorted(self._gaps), self.batch)
        self.last_poll_ok = time.monotonic()
        for event in events:
            self._advance(event.id, now)
            self.deliver(event)
        return len(events)

    def _advance(self, event_id: int, now: float) -> None:
        if self._gaps.pop(event_id, None) is not None:
            return
        for missing in range(self.last_id + 1, event_id):
            if len(self._gaps) < self.MAX_GAPS:
                self._gaps[missing] = now
        self.last_id = max(self.last_id, event_id)

    def deliver(self, event: OutboxEvent) -> None:
        """Translate one event; a failure is logged and the relay goes on with the next."""
        translator = TRANSLATORS.get(event.kind)
        if translator is None:
            logs.event(log, "outbox.skipped", logging.DEBUG, event=event.id, kind=event.kind)
            return
        if event.created_at is not None:
            metrics.EVENT_DELAY.observe(max(0.0, time.time() - event.created_at.timestamp()))
        try:
            translator(self.services, event)
        except Exception:
            logs.event(log, "outbox.failed", logging.ERROR, True, event=event.id, kind=event.kind)
