"""Reading a connection's socket, and giving up the reader's greenlet while there is nothing
to read ("parking"), so that an idle connection costs no greenlet.

A greenlet blocked in a read keeps its Python frames and a copy of its C stack: ~8-10 kB
of the ~17 kB an idle authenticated connection cost (signaling/bench/RESULTS.md, goal 3).
A connection with nothing to read needs none of that: only its socket and a read watcher
that knows whom to call. So when the reader has drained the socket at a message boundary
(nothing half-read, every byte it holds parsed), `SocketReader.park` arms the watcher with
the connection's `wake` and the reader's greenlet ends; the watcher's callback starts a new
reader greenlet when bytes arrive. Everything a connection must do while idle (the hello
deadline, heartbeats, sending) is done by other greenlets already (the Heartbeats sweeper,
the senders and the FrameWriter), and closing the socket wakes a parked connection (it
reads the end of the stream and finishes).

Only public gevent API: `loop.io` watchers, `Hub.wait` and `watcher.start`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gevent import get_hub
from greenlet import greenlet

READABLE = 1  # libev's EV_READ


class SocketReader:
    """Reads from one gevent socket; waits for it to be readable with its own watcher.

    `readinto` is a plain read: after a read that drained the socket, it first waits until
    the socket is readable (a read that would fail with EAGAIN, raised and caught inside
    gevent, costs ~1.5 us per wake-up). `park(wake)` is the alternative at a message
    boundary: instead of waiting, arm the watcher to run `wake()` in a new greenlet when
    bytes arrive, and let the caller return.
    """

    __slots__ = ("_sock", "_recv_into", "_watcher", "_hub", "_wake", "drained")

    def __init__(self, sock: Any) -> None:
        """`sock` is a gevent socket (the daemon's server is gevent's)."""
        self._sock = sock
        self._recv_into = sock.recv_into
        self._hub = hub = get_hub()
        self._watcher = hub.loop.io(sock.fileno(), READABLE)
        self._wake: Callable[[], Any] | None = None
        self.drained = False  # the last read took everything the socket had

    def readinto(self, buffer: bytearray) -> int:
        if self.drained:
            watcher = self._watcher
            if watcher is not None:  # None once released: recv_into raises EBADF
                self._hub.wait(watcher)
        got = self._recv_into(buffer)
        self.drained = got < len(buffer)
        return got

    def can_park(self) -> bool:
        """Whether the socket is drained, so that the next read would wait."""
        return self.drained and self._watcher is not None

    def park(self, wake: Callable[[], Any]) -> None:
        """Call `wake()` in a new greenlet once the socket is readable (or closed).

        The caller must return (end its greenlet) without reading: the watcher is armed.
        """
        self._wake = wake
        self._watcher.start(self._readable)  # type: ignore[union-attr]

    def _readable(self) -> None:
        """The watcher's callback (in the hub): bytes arrived for a parked connection."""
        self._watcher.stop()  # type: ignore[union-attr]
        wake, self._wake = self._wake, None
        self.drained = False  # they are there: read them without waiting first
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
