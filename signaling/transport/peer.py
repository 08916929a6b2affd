"""One client connection: its reader, its single writer, its deadlines and its limits.

The reader parses frames and runs handlers: first the WSGI handler's greenlet, and after
each time it found nothing to read (parked: signaling.transport.reader) a new greenlet
started when bytes arrive, so an idle connection holds no greenlet. Everything
sent to the client goes through one `FrameWriter`: written at once from the sender's
greenlet when the socket takes it, else queued (bounded) for a writer greenlet that exists
only while there is a backlog, with a deadline per write, so a client that stops reading is
dropped (4009) without holding up anyone who sends to it. The daemon's
one `Heartbeats` sweeper calls `check()` to enforce the hello deadline (4001) and
heartbeats (ping when idle, 4010 when silent). Handlers reach the connection only through
`send()`, `close()` and the identity.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import gevent

from app import logs
from signaling import errors, metrics
from signaling.backoff import UNAVAILABLE
from signaling.errors import CloseCode, MessageError, PeerClosed, ProtocolViolation
from signaling.handlers import dispatch
from signaling.protocol import encode, error_message, parse
from signaling.state.admission import input_waiting
from signaling.state.services import Services
from signaling.state.store import Identity
from signaling.transport.limits import TokenBucket, WindowCounter
from signaling.transport.websocket import OP_PARKED, OP_PING, OP_PONG, OP_TEXT, WebSocket
from signaling.transport.writer import FrameWriter

log = logging.getLogger(__name__)

FLOOD_GRACE = 0.25  # seconds between a flood's close frame and the reset
# Parking the reader (signaling.transport.reader). A message that came within BUSY_GAP of
# the one before marks the connection busy: its reader then waits at the next boundary
# (waking a waiting greenlet is cheaper than starting one per message), and the Heartbeats
# sweeper parks it once nothing has arrived for PARK_AFTER. Otherwise (the first message,
# e.g. hello; a pong; a lone message) the reader parks as soon as it has read everything.
BUSY_GAP = 1.0
PARK_AFTER = 2.0


class Peer:
    """A WebSocket connection of one (eventually authenticated) device."""

    # Thousands of these live at once: no per-instance __dict__ (see signaling.bench).
    __slots__ = (
        "ws",
        "services",
        "settings",
        "remote",
        "conn_id",
        "identity",
        "closing",
        "close_code",
        "started",
        "last_received",
        "_out",
        "_holding",
        "_registered",
        "_must_linger",
        "_last_ping",
        "_bucket",
        "_drops",
        "_invalid_json",
        "_linger_timer",
        "_on_finish",
        "_last_message",
        "__weakref__",  # the FrameWriter's failure callback refers back weakly
    )

    def __init__(
        self,
        ws: WebSocket,
        services: Services,
        remote: str = "",
        on_finish: Callable[[Peer], Any] | None = None,
    ) -> None:
        """`on_finish(peer)` is called once the connection has ended and is off the books."""
        self.ws = ws
        self.services = services
        self.settings = settings = services.settings
        self.remote = remote
        self.conn_id = secrets.token_hex(8)
        self.identity: Identity | None = None
        self.closing = False
        self.close_code: int | None = None
        self._out = FrameWriter(
            ws, settings.send_queue_size, settings.write_timeout, self._write_failed
        )
        self._holding: list[bytes] | None = None  # between registration and `welcome`
        self._registered = False
        self._must_linger = False
        now = time.monotonic()
        self.started = self.last_received = now
        self._last_ping = now
        self._bucket = TokenBucket(settings.message_rate, settings.message_burst)
        self._drops: WindowCounter | None = None  # only once rate-limited
        self._invalid_json = 0
        self._linger_timer: Any = None
        self._on_finish = on_finish
        self._last_message = float("-inf")  # when the previous frame arrived

    # -- identity (the hub's and the handlers' view) -----------------------------------
    @property
    def context(self) -> dict[str, Any]:
        """Log fields: connection id and, once known, the user (never the token)."""
        return {"conn": self.conn_id, "user": self.username or "-"}

    @property
    def user_id(self) -> int:
        return self.identity.user_id if self.identity else 0

    @property
    def username(self) -> str:
        return self.identity.username if self.identity else ""

    @property
    def session_id(self) -> int:
        return self.identity.session_id if self.identity else 0

    def authenticated(self, identity: Identity) -> None:
        """Called by `hello` just before the hub may send to us: hold messages until welcome."""
        self.identity = identity
        self._registered = True
        self._holding = []

    def welcome(self, message: dict[str, Any]) -> None:
        """Send `welcome`, then whatever the hub sent while it was being prepared."""
        held, self._holding = self._holding or [], None
        self._push(OP_TEXT, encode(message))
        for data in held:
            self._push(OP_TEXT, data)
        logs.event(log, "conn.open", remote=self.remote, **self.context)

    # -- sending (any greenlet) --------------------------------------------------------
    def send(self, message: dict[str, Any]) -> bool:
        """Send (or queue) a message without blocking; False if the connection is closing."""
        if self.closing:
            return False
        data = encode(message)
        if self._holding is not None:
            self._holding.append(data)
            return True
        return self._push(OP_TEXT, data)

    def _push(self, opcode: int, payload: bytes) -> bool:
        if self.closing:
            return False
        if self._out.put(opcode, payload):
            return True
        if not self.closing:  # not a failed socket (that closed us already): a full backlog
            logs.event(
                log, "conn.slow_reader", logging.WARNING, why="send_queue_full", **self.context
            )
            self.close(CloseCode.TOO_SLOW, "not reading fast enough")
        return False

    def _write_failed(self, timed_out: bool) -> None:
        """The writer gave up (and aborted the socket); the reader ends the connection."""
        if timed_out:
            logs.event(
                log, "conn.slow_reader", logging.WARNING, why="write_timeout", **self.context
            )
            self.close_code = CloseCode.TOO_SLOW
        self.closing = True

    def close(self, code: int, reason: str = "") -> None:
        """Close with `code` after what is already queued; idempotent."""
        if self.closing:
            return
        self.closing, self.close_code = True, code
        logs.event(log, "conn.closing", code=code, reason=reason, **self.context)
        self._out.close(code, reason)
        # A client that never answers our close frame must not hold the connection open.
        self._linger_timer = gevent.spawn_later(self.settings.close_linger, self.ws.abort)

    # -- the connection's life ---------------------------------------------------------
    def run(self) -> None:
        """Serve the connection from the caller's greenlet until it ends or parks.

        Over a parkable socket (the daemon's), this returns as soon as there is nothing to
        read: the connection lives on, served by a new greenlet when bytes arrive
        (`_serve`), and `on_finish` says when it has ended.
        """
        self.services.heartbeats.add(self)
        self._serve()

    def _serve(self) -> None:
        """Read and handle until the connection ends (then finish it) or the reader parks."""
        parked = False
        try:
            parked = self._read_loop()
        except Exception:
            logs.event(log, "conn.reader_failed", logging.ERROR, True, **self.context)
            self.close(CloseCode.INTERNAL_ERROR, "server error")
        finally:
            if not parked:
                self.services.heartbeats.discard(self)
                self._finish()

    def _read_loop(self) -> bool:
        """Handle what arrives; True once the reader is parked, False when the connection
        has ended."""
        wake = self._serve  # what a parked reader's watcher calls (no cycle kept on self)
        park_now = True  # a new reader: woken by bytes after a quiet spell
        while True:
            try:
                opcode, data = self.ws.receive(wake, park_now)
            except PeerClosed as exc:
                self.close(exc.code or CloseCode.NORMAL, "")  # echo the client's close
                return False
            except ProtocolViolation as exc:
                self.close(exc.close_code, exc.reason)
                if exc.close_code == CloseCode.FLOOD:
                    # A flood never ends, so it is not drained: closing over unread input
                    # resets the connection, so first give the client a moment to read our
                    # close frame (the flooder meanwhile costs nothing: we stop reading).
                    gevent.sleep(FLOOD_GRACE)
                else:
                    self._must_linger = True  # drain unread input after closing (see linger)
                return False
            except (OSError, ValueError):
                return False  # the connection ended (or we aborted it)
            if opcode == OP_PARKED:
                return True
            self.last_received = now = time.monotonic()
            park_now = now - self._last_message >= BUSY_GAP
            self._last_message = now
            if opcode == OP_PING:
                self._push(OP_PONG, data)
            elif opcode == OP_TEXT and not self.closing:
                self._on_text(data)
            elif opcode == OP_PONG:
                pass  # its arrival (last_received) is all the heartbeat needs

    def _on_text(self, text: str) -> None:
        if not self._bucket.take():
            self._rate_limited()
            return
        try:
            message = parse(text)
        except MessageError as exc:
            self._bad_message(exc)
            return
        if self.identity is None and message.type != "hello":
            self.close(CloseCode.HELLO_REQUIRED, "the first message must be hello")
            return
        dispatch(self.services, self, message)

    def _rate_limited(self) -> None:
        if self._drops is None:
            self._drops = WindowCounter(10.0)
        if self._drops.add() > self.settings.message_burst:
            self.close(CloseCode.FLOOD, "message flood")
            return
        self.send(error_message(errors.RATE_LIMITED, "Too many messages; this one was dropped."))

    def _bad_message(self, exc: MessageError) -> None:
        if self.identity is None:
            self.close(CloseCode.HELLO_REQUIRED, "the first message must be a valid hello")
            return
        if exc.code == errors.INVALID_JSON:
            self._invalid_json += 1
            if self._invalid_json >= self.settings.invalid_json_limit:
                self.close(CloseCode.INVALID_PAYLOAD, "repeated invalid JSON")
                return
        self.send(error_message(exc.code, exc.message, ref=exc.ref, call_id=exc.call_id))

    def check(self, now: float) -> float | None:
        """Hello deadline and heartbeats at `now` (called by the Heartbeats sweeper).

        Returns when the next of them falls due, or None once the connection is closing.
        """
        settings = self.settings
        if self.closing:
            return None
        # The hello deadline is the client's: met once its hello is received (admitted, our
        # wait is bounded there), or while its input waits for our reader.
        owes_hello = self.identity is None and self not in self.services.admission
        if owes_hello and now - self.started > settings.hello_timeout:
            if not input_waiting(self):
                self.close(CloseCode.HELLO_REQUIRED, "no hello in time")
                return None
        if now - self.last_received > settings.heartbeat_timeout:
            self.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            return None
        if min(now - self.last_received, now - self._last_ping) > settings.heartbeat_interval:
            self._last_ping = now
            if not self._push(OP_PING, b""):
                return None
        # Whatever arrives before then only moves these later: being checked early is harmless.
        due = min(
            self.last_received + settings.heartbeat_timeout,
            max(self.last_received, self._last_ping) + settings.heartbeat_interval,
        )
        if self.ws.reading:  # a busy connection's reader: park it once quiet
            if now - self.last_received >= PARK_AFTER:
                self.ws.park_waiting()
            else:
                due = min(due, self.last_received + PARK_AFTER)
        return min(due, self.started + settings.hello_timeout) if owes_hello else due

    def _finish(self) -> None:
        """Flush the close frame, drain unread input, and take the connection off the books."""
        self.closing = True  # if the client vanished: nothing new, but the backlog is flushed
        self._out.flush(self.settings.close_linger)
        if self._must_linger:
            self.ws.linger(1.0, 4 * self.settings.max_message_bytes)
        if self._linger_timer is not None:
            self._linger_timer.kill(block=False)
        self.ws.abort()
        self.ws.release()
        metrics.CLOSES.inc(str(self.close_code))
        try:
            self._unregister()
        finally:
            if self._on_finish is not None:
                self._on_finish(self)

    def _unregister(self) -> None:
        if not self._registered:
            return
        services = self.services
        remaining = services.hub.remove(self)
        logs.event(log, "conn.closed", code=self.close_code, **self.context)
        if services.shutting_down:
            return  # rows stay: a live daemon's sweep gives the calls their grace (liveness)
        try:
            calls = services.store.disconnect(self.conn_id, self.user_id)
        except UNAVAILABLE as exc:  # counted in the outage log, not one traceback per client
            services.database.failed(exc, "disconnect", track=False)
            return
        except Exception:
            logs.event(log, "conn.disconnect_failed", logging.ERROR, True, **self.context)
            return
        services.presence.disconnected(self, calls, remaining == 0)
        services.rooms.disconnected(self)
