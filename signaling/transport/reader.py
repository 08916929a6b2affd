"""Reading a connection's socket, and giving up the reader's greenlet while there is nothing
to read ("parking"), so that an idle connection costs no greenlet.

A greenlet blocked in a read keeps its Python frames and a copy of its C stack: ~8-10 kB
of the ~17 kB an idle authenticated connection cost (signaling/bench/RESULTS.md, goal 3).
A connection with nothing to read needs none of that: only its socket and a read watcher
that knows whom to call. So when the reader has drained the socket at a message boundary
(nothing half-read, every byte it holds parsed), it may park: the watcher is armed with
the connection's `wake` and the reader's greenlet ends; the watcher's callback starts a new
reader greenlet when bytes arrive. Everything a connection must do while idle (the hello
deadline, heartbeats, sending) is done by other greenlets already (the Heartbeats sweeper,
the senders and the FrameWriter), and closing the socket wakes a parked connection (it
reads the end of the stream and finishes).

A new greenlet per wake-up costs more CPU than waking a waiting one (chimecast-bench relay
at 5,000 msg/s, signaling/bench/RESULTS.md), so a busy connection keeps its reader: it
waits at the boundary instead, and `park_waiting()` (the Heartbeats sweeper, once the
connection has been quiet a while) turns that wait into a park.

Only public gevent API: `loop.io` watchers, `Hub.wait`, `Hub.switch`, `loop.run_callback`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gevent import get_hub
from greenlet import getcurrent, greenlet

READABLE = 1  # libev's EV_READ
_PARK = object()  # what `_park_waiting` switches into a reader waiting at a boundary


class SocketReader:
    """Reads from one gevent socket; waits for it to be readable with its own watcher.

    `readinto` is a plain read: after a read that drained the socket, it first waits until
    the socket is readable (a read that would fail with EAGAIN, raised and caught inside
    gevent, costs ~1.5 us per wake-up). At a message boundary the reader calls
    `wait_or_park` instead, which may end in a park.
    """

    __slots__ = ("_recv_into", "_watcher", "_hub", "_wake", "_waiting", "drained")

    def __init__(self, sock: Any) -> None:
        """`sock` is a gevent socket (the daemon's server is gevent's)."""
        self._recv_into = sock.recv_into
        self._hub = hub = get_hub()
        self._watcher = hub.loop.io(sock.fileno(), READABLE)
        self._wake: Callable[[], Any] | None = None  # set while parked
        self._waiting: Any = None  # the reader greenlet, while it waits at a boundary
        # The last read took everything the socket had. At first: the handshake's reader
        # took what had arrived with the request, so the socket is as good as drained.
        self.drained = True

    @property
    def parked(self) -> bool:
        """Parked: no greenlet reads; the watcher will start one."""
        return self._wake is not None and self._waiting is None

    def readinto(self, buffer: bytearray) -> int:
        if self.drained:
            watcher = self._watcher
            if watcher is not None:  # None once released: recv_into raises EBADF
                self._hub.wait(watcher)
        got = self._recv_into(buffer)
        self.drained = got < len(buffer)
        return got

    def wait_or_park(self, wake: Callable[[], Any], park_now: bool) -> bool:
        """At a message boundary with the socket drained: True once it is readable, False
        when the reader is parked (`wake()` will run in a new greenlet when bytes arrive;
        the caller must return without reading).

        Parks at once with `park_now`; else waits, and parks if `park_waiting()` is called
        meanwhile.
        """
        watcher = self._watcher
        if watcher is None:
            return True  # released: the read that follows fails (EBADF)
        self._wake = wake
        watcher.start(self._readable)
        if park_now:
            return False
        self._waiting = getcurrent()
        try:
            woken_by = self._hub.switch()
        except BaseException:  # killed while waiting: nothing is parked
            self._wake = None
            watcher.stop()
            raise
        finally:
            self._waiting = None
        if woken_by is _PARK:
            return False  # the watcher stays armed with `wake`
        return True

    def park_waiting(self) -> None:
        """If the reader waits at a boundary, park it (from any greenlet; done on the hub's
        next turn, and only if it is still waiting then)."""
        if self._waiting is not None:
            self._hub.loop.run_callback(self._park_waiting)

    def _park_waiting(self) -> None:
        waiting = self._waiting
        if waiting is not None:
            waiting.switch(_PARK)

    def _readable(self) -> None:
        """The watcher's callback (in the hub): bytes arrived (or the socket closed)."""
        self._watcher.stop()  # type: ignore[union-attr]
        self.drained = False  # they are there: read them without waiting first
        waiting = self._waiting
        if waiting is not None:
            self._wake = None
            waiting.switch(True)
            return
        wake, self._wake = self._wake, None
        if wake is not None:
            # Switched to directly, as gevent's Waiter does from a callback: the new reader
            # runs until it waits or ends, then the hub goes on. `wake` never raises.
            greenlet(wake, parent=self._hub).switch()

    def release(self) -> None:
        """Stop and free the watcher (before the socket is closed); idempotent."""
        watcher, self._watcher = self._watcher, None
        self._wake = None
        if watcher is not None:
            watcher.stop()
            watcher.close()
