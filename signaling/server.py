"""The signaling daemon: a plain WSGI function on gevent's server, and its background tasks.

`/ws` is the WebSocket (handshake checked by `signaling.transport.websocket`), `GET /healthz` says the
daemon is up, `GET /readyz` whether its database (and Redis) answer. Background greenlets
tail the outbox, expire unanswered calls and beat this node's liveness (signaling.state.liveness),
backing off while the database is down (`signaling.backoff`). SIGTERM drains: every client
gets `going_away` and close 1001, the node is marked stopping (its users' calls get their
grace from a live daemon), then the process exits.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import orjson
from flask import Flask
from gevent.event import Event
from gevent.pywsgi import LoggingLogAdapter, WSGIServer

from app import logs
from app.janus import withdrawals
from app.outage import UNAVAILABLE
from signaling import backoff, metrics
from signaling.backlog import effective_backlog
from signaling.errors import CloseCode
from signaling.outbox.tail import OutboxRelay
from signaling.outbox.wake import OutboxWake, start_sources
from signaling.protocol import server_message
from signaling.readiness import Readiness
from signaling.settings import Settings
from signaling.state.liveness import Liveness
from signaling.state.runners import dedicated_runner, threadpool_runner
from signaling.state.services import Services, build_services
from signaling.state.siblings import Siblings
from signaling.state.store import Store
from signaling.transport.handshake import handler_class
from signaling.transport.peer import Peer
from signaling.transport.websocket import origin_policy
from signaling.workers import reuse_port_listener

# Allocations between young collections (CPython's default 700): see steady_collector.
GC_YOUNG_THRESHOLD = 10_000
log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
DRAIN_SECONDS = 3.0


class SignalingServer:
    """One daemon: WSGI app, services, background tasks, and a clean shutdown."""

    def __init__(
        self,
        app: Flask,
        host: str,
        port: int,
        worker: int | None = None,
        links: tuple[socket.socket, dict[int, socket.socket]] | None = None,
    ) -> None:
        """`worker`: this daemon is worker `worker` of `--workers N` (signaling.workers): its
        node id ends in `/<worker>` and it shares the port with the others (SO_REUSEPORT).
        `links`: its inbox and its siblings' (signaling.state.siblings.Inboxes.keep)."""
        self.host, self.port, self.worker = host, port, worker
        _lighter_greenlets()
        self.app_config = app.config
        self.settings = Settings.from_config(app.config, port, worker)
        # A client's request, and a background round, wait for the database at most
        # `overdue` (signaling.state.runners).
        overdue = self.settings.overdue
        run, poll = threadpool_runner(self.settings.db_threads, overdue), dedicated_runner(overdue)
        store = Store(
            app,
            backoff.raised_in_caller(run),
            backoff.raised_in_caller(poll),
            self.settings.node_id,
        )
        siblings = None
        if links is not None:
            base = self.settings.node_id.rsplit("/", 1)[0]
            siblings = Siblings(*links, node_of=lambda n: f"{base}/{n}")
        self.services: Services = build_services(self.settings, store, siblings=siblings)
        self.liveness = Liveness(self.services)
        self.outbox = OutboxRelay(self.services)
        self.outbox_wake = OutboxWake(
            self.settings.outbox_poll_interval, self.settings.outbox_fallback_interval
        )
        self.readiness = Readiness(app, self.services)
        self.peers: set[Peer] = set()
        self.routes: dict[str, Callable[[dict[str, Any]], tuple[str, str, bytes]]] = {
            "/healthz": self.healthz,
            "/readyz": self.readiness.readyz,
            "/metrics": lambda _environ: metrics.exposition(),
        }
        self._tasks: list[gevent.Greenlet] = []
        self._stopped = Event()
        self.wsgi_server: WSGIServer | None = None

    # -- HTTP -----------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application: WebSocket sessions, health, and plain 404/405/426 otherwise."""
        ws = environ.get("wsgi.websocket")
        if ws is not None:
            self._serve_websocket(ws, environ)
            return []
        path = environ.get("PATH_INFO", "")
        route = self.routes.get(path)
        if path == "/ws":
            status, ctype, body = "426 Upgrade Required", "text/plain", b"WebSocket only.\n"
        elif route is None:
            status, ctype, body = "404 Not Found", "application/json", _error("not_found")
        elif environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, ctype, body = "405 Method Not Allowed", "application/json", _error("method")
        else:
            status, ctype, body = route(environ)
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    def healthz(self, environ: dict[str, Any]) -> tuple[str, str, bytes]:
        draining = self.services.shutting_down
        body = {
            "status": "draining" if draining else "ok",
            "node_id": self.settings.node_id,
            "connections": len(self.peers),
        }
        status = "503 Service Unavailable" if draining else "200 OK"
        return status, "application/json", orjson.dumps(body)

    def _serve_websocket(self, ws: Any, environ: dict[str, Any]) -> None:
        if self.services.shutting_down:
            try:
                ws.send_close(CloseCode.GOING_AWAY, "server shutting down")
            finally:
                ws.release()
            return
        remote = str(environ.get("REMOTE_ADDR", ""))
        peer = Peer(ws, self.services, remote=remote, on_finish=self.peers.discard)
        self.peers.add(peer)
        peer.run()  # returns when the connection ends or its reader parks (Peer.run)

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Clean up after a previous run, start the background tasks, and listen."""
        store, settings = self.services.store, self.settings
        self.liveness.start()  # before listening: this node's row must be live first
        self.outbox.start()
        self.services.hub.start()
        metrics.watch(
            metrics.Live(
                connection_states=lambda: [_state_of(peer) for peer in list(self.peers)],
                call_states=self.services.calls.states,
                redis_connected=self._redis_connected,
                outbox_backlog=self._outbox_backlog,
                outbox_last_poll=lambda: self.outbox.last_poll_ok,
                readers_parked=lambda: sum(peer.ws.parked for peer in list(self.peers)),
                hellos_waiting=lambda: self.services.admission.waiting,
                hello_rate=lambda: self.services.admission.rate,
            )
        )
        calls = store.active_calls()
        for call in calls:
            self.services.calls.put(call)
        self.services.presence.watch_after_restart(calls)
        self._tasks = [
            *start_sources(
                str(self.app_config["SQLALCHEMY_DATABASE_URI"]),
                settings.outbox_wake,
                self.outbox_wake,
                settings.heartbeat_interval,
            ),
            backoff.every(
                settings.outbox_poll_interval,
                self.outbox.poll_once,
                self.services.database,
                self.outbox_wake.pause,
            ),
            self._every(settings.ring_sweep_interval, store.expire_unanswered),
            self._every(settings.node_refresh_interval, self.liveness.beat),
        ]
        if self.app_config.get("JANUS_URLS"):
            # A dead Janus node's meetings move to a live one, within about this interval.
            interval = self.app_config["JANUS_HEALTH_INTERVAL"]
            self._tasks.append(self._every(interval, store.move_sfu_meetings))
            # A removed seat's token that its node did not give back is retried (backoff).
            retry = withdrawals.POLL_INTERVAL
            self._tasks.append(self._every(retry, store.retry_janus_withdrawals))
        handler = handler_class("/ws", settings, origin_policy(settings.allowed_origins))
        # gevent's default backlog is 128: a reconnect storm overflowed it (ListenDrops,
        # clients waiting 1 s / 3 s / 7 s for SYN retransmits). The kernel caps it at somaxconn.
        backlog = settings.listen_backlog
        metrics.LISTEN_BACKLOG.set(effective_backlog(backlog))
        listen: Any = (self.host, self.port)
        if self.worker is not None:
            listen, backlog = reuse_port_listener(self.host, self.port, backlog), None
        self.wsgi_server = WSGIServer(
            listen,
            self.wsgi,
            handler_class=handler,
            backlog=backlog,
            log=LoggingLogAdapter(logging.getLogger("signaling.access"), logging.DEBUG),
            error_log=LoggingLogAdapter(logging.getLogger("signaling.http"), logging.ERROR),
        )
        steady_collector()  # the daemon is built: keep what it built out of the GC's rounds
        # Not accepting faster (gevent's max_accept, 100 sockets per wake-up): with 4096 the
        # storm of 10,000 was accepted at once, every hello's deadline started together and
        # the hellos queued behind one another's token checks past it (1011 for 9,991 of
        # 10,000). The kernel's queue is where a storm waits: size it (backlog, somaxconn).
        self.wsgi_server.start()
        port = self.wsgi_server.server_port
        logs.event(log, "listening", node=settings.node_id, host=self.host, port=port, path="/ws")

    def _redis_connected(self) -> bool | None:
        subscribed = getattr(self.services.hub, "subscribed", None)  # RedisHub only
        return None if subscribed is None else subscribed.is_set()

    def _outbox_backlog(self) -> int | None:
        """Committed events not read yet: one indexed max(id); None while the database is out."""
        try:
            return max(0, self.services.store.last_event_id() - self.outbox.last_id)
        except Exception:  # a scrape must answer even when the database does not
            return None

    def _every(self, interval: float, task: Callable[[], Any]) -> gevent.Greenlet:
        """A background loop on the database: backs off and logs quietly while it is down."""
        return backoff.every(interval, task, self.services.database)

    def serve_forever(self) -> None:
        """Start, then block until SIGTERM/SIGINT has drained the daemon."""
        self.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, self.shutdown)
        self._stopped.wait()

    def shutdown(self) -> None:
        """Begin draining (safe to call from a signal handler, and more than once)."""
        if not self.services.shutting_down:
            self.services.shutting_down = True
            gevent.spawn(self._drain)

    def _drain(self) -> None:
        logs.event(log, "draining", connections=len(self.peers))
        if self.wsgi_server is not None:
            self.wsgi_server.close()  # stop accepting; live connections go on
        going_away = server_message("going_away", reason="shutdown")
        for peer in list(self.peers):
            peer.send(going_away)
            peer.close(CloseCode.GOING_AWAY, "server shutting down")
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.peers and time.monotonic() < deadline:
            gevent.sleep(0.05)
        for task in self._tasks:
            task.kill(block=False)
        self.services.hub.stop()
        try:  # the rows stay: a live daemon's sweep gives their calls the grace period
            self.liveness.retire()
        except UNAVAILABLE as exc:  # the node row ages out instead (liveness): no bug to trace
            self.services.database.failed(exc, "retire_node", track=False)
        except Exception:
            logs.event(log, "node.retire_failed", logging.ERROR, True, node=self.settings.node_id)
        if self.wsgi_server is not None:
            self.wsgi_server.stop(timeout=0.5)
        logs.event(log, "stopped", node=self.settings.node_id)
        self._stopped.set()


def _lighter_greenlets() -> None:
    """Process-wide: nothing kept per greenlet (one per connection) that the daemon never reads.

    Measured with 1,000 idle connections (signaling/bench/RESULTS.md, goal 3): every log
    line a connection's greenlet wrote made `logging` ask for the current thread's name,
    and under gevent that creates a `_DummyThread` (with its Event, Condition and lock)
    that lives as long as the greenlet; and gevent records three stack frames and the
    spawn tree of every greenlet for debugging. The log format has no thread name.
    """
    logging.logThreads = False
    gevent.config.track_greenlet_tree = False


def steady_collector() -> None:
    """Process-wide, once the daemon is built and before it listens: the objects alive now
    (modules, the app, SQLAlchemy's compiled statements) are moved out of the cyclic garbage
    collector's sight, and young collections run every GC_YOUNG_THRESHOLD allocations instead
    of 700.

    Measured on `chimecast-bench arrivals --pairs 1000 --start socket` (RESULTS.md): the
    collector was 4 % of the daemon's CPU (perf: gc_collect_main and its visitors), most of
    it walking objects that live as long as the process; 2.6 % after. Cyclic garbage made
    while serving is still collected, only in larger rounds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _state_of(peer: Peer) -> str:
    if peer.closing:
        return "closing"
    return "handshake" if peer.identity is None else "open"


def _error(code: str) -> bytes:
    messages = {"not_found": "Nothing here.", "method": "Only GET."}
    return orjson.dumps({"error": code, "message": messages[code]})
