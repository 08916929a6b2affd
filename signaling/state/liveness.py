"""This daemon's liveness beat, and the sweep that takes over the devices of dead daemons.

Every NODE_REFRESH_INTERVAL the daemon refreshes its row in `nodes` and sweeps the nodes
whose row is older than NODE_STALE_AFTER or marked stopping (README "Liveness"): their
connection rows go, and each of their users' devices in a call or a meeting that is
connected nowhere else gets the normal reconnect grace here. The other side hears `peer_disconnected`
(a meeting's others `participant_disconnected`); the call ends `connection_lost`, recorded
as ended by this node (the participant leaves the meeting, `connection_lost`, freeing the
seat), unless the device comes back to any daemon in time. On SIGTERM a daemon marks
itself stopping and leaves its rows to that sweep, so its users' calls get their grace
from a daemon that stays. A sweep also adopts the orphans: devices in a call or meeting
that no live daemon holds, whose grace was running on the dead daemon.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from app import logs

if TYPE_CHECKING:
    from signaling.state.services import Services
    from signaling.state.store import LostDevice

log = logging.getLogger(__name__)


class Liveness:
    """Beat, sweep and retire for one daemon; every method does one store job or two."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._last_beat: float | None = None
        self._quiet_until = 0.0

    @property
    def node_id(self) -> str:
        return self.services.settings.node_id

    def start(self) -> None:
        """Take over what this node's previous run left behind, and beat once."""
        lost = self.services.store.register_node(self.node_id)
        if lost:
            logs.event(log, "node.previous_run_lost", node=self.node_id, devices=len(lost))
        self._last_beat = time.monotonic()
        self._take_over(lost)

    def beat(self) -> None:
        """Refresh this node's row and sweep dead nodes (a background task)."""
        settings, store = self.services.settings, self.services.store
        now = time.monotonic()
        if self._last_beat is not None and now - self._last_beat > settings.node_stale_after:
            # This node could not beat for a while (a database outage?): the others may
            # have been cut off as long. Give them a stale period to beat before sweeping.
            self._quiet_until = now + settings.node_stale_after
            logs.event(log, "node.beat_gap", logging.WARNING, node=self.node_id,
                       seconds=round(now - self._last_beat, 1))  # fmt: skip
        result = store.beat(self.node_id, sweep=now >= self._quiet_until)
        self._last_beat = time.monotonic()
        if not result.node_was_there:
            self._restore()
        self._take_over(result.lost)
        if result.swept:
            self._adopt_orphans()

    def retire(self) -> None:
        """Clean shutdown: mark this node stopping; its rows are left to a live daemon."""
        self.services.store.retire_node(self.node_id)

    def _restore(self) -> None:
        """Another daemon swept this one while it could not beat: put its rows back."""
        conns = [(c.conn_id, c.user_id, c.session_id) for c in self.services.hub.connections()]
        restored = self.services.store.restore_connections(self.node_id, conns)
        logs.event(log, "node.restored", logging.WARNING, node=self.node_id, rows=restored)

    def _adopt_orphans(self) -> None:
        """A dead daemon may have been running grace periods of devices that had already
        dropped (their rows were gone before it died): every device in a call or meeting
        that no live daemon holds gets a grace here, unless one is pending here already.
        Another live daemon running its own grace for the same device makes the others
        hear `peer_disconnected` twice; the call or seat still ends once."""
        services = self.services
        orphans = services.store.orphans()
        for call, user_id in orphans.calls:
            services.calls.put(call)
            if not services.presence.pending(call.call_id, user_id):
                services.presence.start_grace(call, user_id)
        for meeting_id, user_id, session_id in orphans.seats:
            services.rooms.lost(user_id, session_id, [meeting_id])
        if orphans.calls or orphans.seats:
            logs.event(log, "node.orphans_adopted", node=self.node_id,
                       calls=len(orphans.calls), seats=len(orphans.seats))  # fmt: skip

    def _take_over(self, lost: list[LostDevice]) -> None:
        for device in lost:
            for call in device.calls:
                self.services.calls.put(call)
            self.services.presence.lost(device.user_id, device.session_id, device.calls)
            self.services.rooms.lost(device.user_id, device.session_id, device.meetings)
