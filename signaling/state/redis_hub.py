"""A hub whose deliveries reach the connections of every daemon, over Redis pub/sub.

The base hub's `emit()` delivers to this process's connections and calls `publish()`,
which looks the target up in this daemon's replica of the cluster registry
(signaling.state.registry) and publishes the message on the channel of each *other*
node that holds a matching connection, `chimecast:<namespace>:node:<node id>`, and on none
when both peers sit on this daemon. Each daemon listens on its own node channel and on the
deployment's registry channel, where every daemon announces its connections (numbered
deltas, full states on request, an `alive` beat every `beat_interval`): a daemon that
goes silent for `stale_after` is ignored, and one that drains says `bye`.

Only relayed negotiation (and pushes a daemon originates) travel this way: call events
come from the database outbox, which every daemon tails itself, so they survive a Redis
outage. Redis pub/sub is at-most-once. What is published while Redis is down, or while a
daemon is resubscribing, is lost; the listener reconnects with backoff, resubscribes and
asks everyone for their state. The relayed copy carries a per-sender `seq`, so a client
sees the gap, and an ICE restart (a new offer) recovers the media path. Membership and
authorization never depend on Redis: they come from the database.

Every name is namespaced per deployment (`CHIMECAST_REDIS_NAMESPACE`, by default a hash
of the database URL): messages are addressed by user and session id, which two
installations sharing one Redis would otherwise both have.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
import gevent.event
import orjson

try:
    import redis
except ImportError:  # the `redis` extra: only a daemon given CHIMECAST_REDIS_URL needs it
    redis = None  # type: ignore[assignment]

from app import logs
from signaling import metrics
from signaling.state.hub import Connection, InMemoryHub, Target
from signaling.state.registry import Registry
from signaling.state.siblings import Siblings

log = logging.getLogger(__name__)

BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)
# A relay to another daemon publishes from the sender's own reader, so a Redis that accepts
# bytes and never answers (a stopped process, a hung proxy) must not hold it: a publish waits
# at most PUBLISH_TIMEOUT, and for FAIL_FAST after a failed one, publishes fail at once.
PUBLISH_TIMEOUT = 1.0
FAIL_FAST = 1.0
SYNC_EVERY = 1.0  # ask one node for its full state at most this often


def prefix_for(namespace: str) -> str:
    """The start of every Redis name a deployment uses."""
    return f"chimecast:{namespace}" if namespace else "chimecast:signaling"


class RedisHub(InMemoryHub):
    """InMemoryHub plus routed `publish()` and a listener on Redis. `start()` once running."""

    distributed = True

    def __init__(
        self,
        node_id: str,
        url: str,
        namespace: str = "",
        beat_interval: float = 2.0,
        stale_after: float = 6.0,
        siblings: Siblings | None = None,
    ) -> None:
        """`siblings`: the links to the other workers of this `--workers N` daemon, which
        then get their deliveries without Redis (signaling.state.siblings)."""
        if redis is None:
            raise RuntimeError(
                "CHIMECAST_REDIS_URL needs the redis package: pip install chimecast[redis]"
            )
        super().__init__(node_id)
        self.prefix = prefix_for(namespace)
        self.channel = self.node_channel(node_id)
        self._channel_bytes = self.channel.encode()
        self.registry_channel = f"{self.prefix}:registry"
        self.registry = Registry(stale_after)
        self.beat_interval = beat_interval
        self.redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=PUBLISH_TIMEOUT,
            socket_timeout=PUBLISH_TIMEOUT,
            health_check_interval=10,
        )
        # The subscription hears this node's own `alive` beat every `beat_interval`: nothing
        # for three of them means Redis went silent, and the listener reconnects.
        self._subscriber = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=max(3 * beat_interval, 1.0),
            socket_keepalive=True,
        )
        self._fail_fast_until = 0.0
        self.subscribed = gevent.event.Event()
        self.publish_failures = 0
        self.last_publish_seconds = 0.0
        self._version = 0  # deltas announced so far
        self._pending: list[list[Any]] = []
        self._state_wanted = False
        self._sync_from: dict[str, float] = {}  # node -> when we last asked for its state
        self._asks: set[str] = set()
        self._wake = gevent.event.Event()
        self._tasks: list[gevent.Greenlet] = []
        self.siblings = siblings

    def node_channel(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    def start(self) -> None:
        self._tasks = [gevent.spawn(f) for f in (self.listen, self._announcer, self._beats)]
        if self.siblings is not None:
            self.siblings.start(self.deliver_local)

    def stop(self) -> None:
        """Say goodbye (the others drop this node at once), then end the background work."""
        for task in self._tasks:
            task.kill(block=False)
        if self.siblings is not None:
            self.siblings.stop()
        self._send({"op": "bye"})

    # -- membership, announced on the registry channel --------------------------------------
    def add(self, conn: Connection) -> int:
        count = super().add(conn)
        self._announce(["add", conn.conn_id, conn.user_id, conn.session_id])
        return count

    def remove(self, conn: Connection) -> int:
        known = conn.conn_id in self._all
        count = super().remove(conn)
        if known:
            self._announce(["remove", conn.conn_id, conn.user_id, conn.session_id])
        return count

    def _announce(self, op: list[Any]) -> None:
        self._version += 1
        self._pending.append(op)
        self._wake.set()

    def _announcer(self) -> None:
        """The one writer of this node's registry messages, so they reach Redis in order;
        bursts of connections go out as one delta."""
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._state_wanted:
                self._state_wanted, self._pending = False, []
                self._send({"op": "state", "v": self._version, "conns": self._entries()})
            elif self._pending:
                ops, self._pending = self._pending, []
                self._send({"op": "delta", "v": self._version, "ops": ops})
            for node in list(self._asks):
                self._asks.discard(node)
                self._send({"op": "sync", "want": node})

    def _beats(self) -> None:
        while True:
            self._send({"op": "alive", "v": self._version})
            for node in self.registry.expire():
                logs.event(log, "redis.node_silent", logging.WARNING, node=self.node_id, dead=node)
            gevent.sleep(self.beat_interval)

    def _entries(self) -> list[tuple[str, int, int]]:
        return [(c.conn_id, c.user_id, c.session_id) for c in self._all.values()]

    def _send(self, body: dict[str, Any]) -> bool:
        body["node"] = self.node_id
        return self._publish(self.registry_channel, orjson.dumps(body))

    # -- delivery ---------------------------------------------------------------------------
    def publish(self, target: Target, message: dict[str, Any]) -> bool:
        """To the other nodes holding a matching connection; True if any of them got it.
        Sibling workers get it over their link, the others over their node channel."""
        nodes = self.registry.nodes_for(target.user_id, target.session_id)
        if not nodes:
            return False
        sent, siblings = False, self.siblings
        if siblings is not None:
            near = [node for node in nodes if node in siblings]
            if near:
                siblings.send(near, target, message)
                if len(near) == len(nodes):
                    return True
                sent, nodes = True, [node for node in nodes if node not in siblings]
        route = [target.user_id, target.session_id, target.except_session_id, target.close_code]
        envelope = orjson.dumps({"node": self.node_id, "target": route, "message": message})
        for node in nodes:
            sent = self._publish(self.node_channel(node), envelope) or sent
        return sent

    def _publish(self, channel: str, data: bytes) -> bool:
        started = time.perf_counter()
        if started < self._fail_fast_until:  # Redis failed a moment ago: lost, at once
            self.publish_failures += 1
            metrics.REDIS_FAILURES.inc()
            return False
        try:
            self.redis.publish(channel, data)
        except redis.RedisError as exc:
            self._fail_fast_until = time.perf_counter() + FAIL_FAST
            self.publish_failures += 1
            metrics.REDIS_FAILURES.inc()
            error = type(exc).__name__
            logs.event(log, "redis.publish_failed", logging.WARNING, node=self.node_id, error=error)
            return False
        self.last_publish_seconds = time.perf_counter() - started
        metrics.REDIS_SECONDS.observe(self.last_publish_seconds)
        return True

    # -- listening ----------------------------------------------------------------------------
    def listen(self) -> None:
        """Subscribe and handle other nodes' messages forever; resubscribe after failures."""
        attempt = 0
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel, self.registry_channel)
                self.subscribed.set()
                attempt = 0
                logs.event(log, "redis.subscribed", node=self.node_id, channel=self.channel)
                self._send({"op": "sync"})  # whatever we missed: everyone's state
                self._state_wanted = True  # and ours, for whoever missed it
                self._wake.set()
                for item in pubsub.listen():
                    self._on_message(item.get("channel"), item.get("data"))
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                attempt += 1
                fields = {"error": type(exc).__name__, "retry_in": delay}
                logs.event(
                    log, "redis.subscription_lost", logging.WARNING, node=self.node_id, **fields
                )
                gevent.sleep(delay)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass

    def _on_message(self, channel: Any, data: Any) -> None:
        """One message from another node; a bad one is logged, never fatal."""
        try:
            body = orjson.loads(data)
            if body["node"] == self.node_id:
                return  # our own registry message
            if channel == self._channel_bytes:
                user_id, session_id, except_session_id, close_code = body["target"]
                target = Target(user_id, session_id, except_session_id, close_code)
                self.deliver_local(target, body["message"])
            else:
                self._on_registry(body)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            logs.event(
                log, "redis.bad_envelope", logging.WARNING, node=self.node_id, error=str(exc)
            )

    def _on_registry(self, body: dict[str, Any]) -> None:
        node, op = body["node"], body["op"]
        if op == "delta":
            if not self.registry.apply(node, body["v"], body["ops"]):
                self._ask(node)
        elif op == "state":
            self.registry.replace(node, body["v"], [tuple(e) for e in body["conns"]])
        elif op == "alive":
            self.registry.heard(node)
            if self.registry.version(node) != body["v"]:
                self._ask(node)
        elif op == "sync":
            if body.get("want") in (None, self.node_id):
                self._state_wanted = True
                self._wake.set()
        elif op == "bye":
            self.registry.forget(node)

    def _ask(self, node: str) -> None:
        """Ask `node` for its full state (a delta was lost, or it restarted), not too often."""
        now = time.monotonic()
        if now - self._sync_from.get(node, -SYNC_EVERY) >= SYNC_EVERY:
            self._sync_from[node] = now
            self._asks.add(node)
            self._wake.set()
