"""Write-through sending on one WebSocket: the frames sent to a connection during one turn of
the event loop go out together, in one `send`, at the end of that turn when the socket takes
them at once, and through a short-lived writer greenlet only while a backlog exists.

A relay flood sends several frames to the same client per turn (a reader parses every frame
its wake-up brought); one system call per frame was the largest single cost of a relayed
message (py-spy: `socket.send` 11 % of the daemon's samples).

An idle connection then costs no writer greenlet and no queue (a greenlet blocked in
`Queue.get` plus a `gevent.queue.Queue` were ~10.6 kB of each connection's RSS, and every
heartbeat ping cost two greenlet switches). The rules the old single writer kept still hold:

- One writer at a time. A direct write never waits (it takes what the kernel accepts and
  returns), so no other greenlet can run in the middle of it; once a write would block, the
  rest of the frame and everything after it belong to the writer greenlet until it has
  drained the backlog, and nobody else writes meanwhile.
- Order. Nothing is written directly while the writer greenlet exists; a turn's frames are
  written in the order they were sent, and the close frame after them.
- No sender waits on someone else's socket. A frame that does not fit is queued (bounded),
  and `put` says when the bound is reached so the owner can drop the slow reader.
- The close frame goes after everything queued, and writing ends with it.
"""

from __future__ import annotations

import inspect
import weakref
from collections import deque
from collections.abc import Callable

import gevent

from signaling.transport.websocket import OP_CLOSE, WebSocket, close_payload, frame_header

COALESCE_BYTES = 64 * 1024  # at most this much of the backlog per write


class FrameWriter:
    """The only path by which frames reach one WebSocket.

    `on_failure(timed_out)` is called once when writing stops for good: a frame took longer
    than `write_timeout` to write (True), or the connection failed (False). The socket has
    been aborted by then. It is held weakly when it is a bound method: the writer must not
    keep its connection alive (a Peer -> writer -> Peer cycle waited for the cyclic garbage
    collector, and 100 connections per run piled up until it ran: chimecast-bench relay
    --runs 10 grew 6 MB).
    """

    __slots__ = (
        "_ws",
        "_limit",
        "_timeout",
        "_on_failure",
        "_turn",
        "_backlog",
        "_final",
        "_writer",
    )

    def __init__(
        self,
        ws: WebSocket,
        limit: int,
        write_timeout: float,
        on_failure: Callable[[bool], None],
    ) -> None:
        self._ws = ws
        self._limit = limit
        self._timeout = write_timeout
        self._on_failure: Callable[[], Callable[[bool], None] | None] = (
            weakref.WeakMethod(on_failure) if inspect.ismethod(on_failure) else lambda: on_failure
        )
        self._turn: list[bytes] | None = None  # frames sent during this loop turn
        self._backlog: deque[bytes] | None = None  # created with the first writer greenlet
        self._final: bytes | None = None  # the close frame, once close() was called
        self._writer: gevent.Greenlet | None = None

    @property
    def sealed(self) -> bool:
        """True once the close frame is on its way or writing failed: nothing more is sent."""
        return self._final is not None

    @property
    def writing_through(self) -> bool:
        """True while nothing waits to be written: no writer greenlet, no frames of this turn."""
        return self._writer is None and self._turn is None

    def put(self, opcode: int, payload: bytes) -> bool:
        """Send one frame, never blocking; False if it will not be sent.

        False means the backlog is full (the reader is too slow), or the connection is
        sealed or just failed (then `on_failure` has been called).
        """
        if self._final is not None:
            return False
        data = frame_header(opcode, len(payload)) + payload
        if self._writer is None:
            turn = self._turn
            if turn is None:
                self._turn = [data]
                gevent.get_hub().loop.run_callback(self._end_turn)
                return True
            turn.append(data)  # bounded by what one turn sends; the backlog bound is after
            return True
        backlog = self._backlog
        assert backlog is not None  # created with the writer
        if len(backlog) >= self._limit:
            return False
        backlog.append(data)
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Send the close frame after what is queued, then stop writing; idempotent."""
        if self._final is not None:
            return
        payload = close_payload(code, reason)
        self._final = frame_header(OP_CLOSE, len(payload)) + payload
        if self._writer is None:
            self._write_through(self._take_turn() + self._final, final=True)

    def flush(self, timeout: float) -> None:
        """Give the writer greenlet (if any) up to `timeout` s to finish, then stop it."""
        if self._final is None:
            self._final = b""  # sealed: nothing new, and no close frame to add
        if self._turn is not None:
            self._write_through(self._take_turn(), final=False)
        writer = self._writer
        if writer is not None:
            writer.join(timeout)
            writer.kill(block=False)

    def _take_turn(self) -> bytes:
        turn, self._turn = self._turn, None
        if not turn:
            return b""
        return turn[0] if len(turn) == 1 else b"".join(turn)

    def _end_turn(self) -> None:
        """The loop's callback at the end of the turn: write the turn's frames (if `close` or
        `flush` has not already)."""
        if self._turn is not None and self._writer is None:
            self._write_through(self._take_turn(), final=False)

    def _write_through(self, data: bytes, final: bool) -> bool:
        if not data and not final:
            return True
        try:
            sent = self._ws.write_nowait(data)
        except OSError:
            self._fail(timed_out=False)
            return False
        if sent < len(data):
            # The socket is full: the rest of this frame, and everything after it, is the
            # writer greenlet's, so this greenlet never waits for a slow client.
            if self._backlog is None:
                self._backlog = deque()
            self._writer = gevent.spawn(self._drain, memoryview(data)[sent:], final)
        elif final:
            self._ws.end_writing()
        return True

    def _drain(self, pending: bytes | memoryview, final: bool) -> None:
        """The writer greenlet: write `pending`, then the backlog, then maybe the close frame.

        It ends when there is nothing left, and writing goes back to the direct path.
        """
        backlog, ws = self._backlog, self._ws
        assert backlog is not None
        try:
            while True:
                with gevent.Timeout(self._timeout, _WriteTimeout):
                    ws.write(pending)
                if final:
                    ws.end_writing()
                    return
                if backlog:
                    pending = _coalesce(backlog)
                elif self._final:
                    pending, final = self._final, True
                else:
                    return
        except _WriteTimeout:
            self._fail(timed_out=True)
        except OSError:
            self._fail(timed_out=False)
        finally:
            self._writer = None

    def _fail(self, timed_out: bool) -> None:
        self._final = b""  # sealed, with no close frame left to write
        if self._backlog:
            self._backlog.clear()
        self._ws.abort()
        on_failure = self._on_failure()
        if on_failure is not None:
            on_failure(timed_out)


def _coalesce(backlog: deque[bytes], limit: int = COALESCE_BYTES) -> bytes:
    """The next frames of the backlog as one write of at most about `limit` bytes (the write
    timeout applies to each write, so it must not grow with the backlog)."""
    first = backlog.popleft()
    if not backlog or len(first) >= limit:
        return first
    parts, size = [first], len(first)
    while backlog and size + len(backlog[0]) <= limit:
        size += len(backlog[0])
        parts.append(backlog.popleft())
    return b"".join(parts)


class _WriteTimeout(Exception):
    """A single frame write took longer than the write timeout (ours, not a caller's)."""
