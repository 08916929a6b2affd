"""A hub whose deliveries reach the connections of every daemon, over Redis pub/sub.

The base hub's `emit()` delivers to this process's connections and calls `publish()`,
which puts the message, with this node's id, on one channel; every other daemon's `listen()` loop delivers it to *its*
matching connections and ignores its own echoes. Only relayed negotiation (and pushes a
daemon originates) travel this way: call events come from the database outbox, which
every daemon tails itself, so they survive a Redis outage.

Redis pub/sub is at-most-once. What is published while Redis is down, or while a daemon
is resubscribing, is lost; the listener reconnects with backoff and resubscribes. The
relayed copy carries a per-sender `seq`, so a client sees the gap, and an ICE restart (a
new offer) recovers the media path. Membership and authorization never depend on Redis:
they come from the database.

The channel is namespaced per deployment (`CHIMECAST_REDIS_NAMESPACE`, by default a hash
of the database URL): messages are addressed by user and session id, which two
installations sharing one Redis would otherwise both have.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
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
from signaling.state.hub import InMemoryHub, Target

log = logging.getLogger(__name__)

CHANNEL = "chimecast:signaling:v1"  # the channel of a hub built without a namespace (tests)
BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0)


def channel_for(namespace: str) -> str:
    """The pub/sub channel of a deployment (every Redis name it uses starts the same way)."""
    return f"chimecast:{namespace}:signaling:v1" if namespace else CHANNEL


class RedisHub(InMemoryHub):
    """InMemoryHub plus `publish()` and `listen()` on Redis. Call `start()` once the process runs."""

    distributed = True

    def __init__(self, node_id: str, url: str, channel: str = CHANNEL) -> None:
        if redis is None:
            raise RuntimeError(
                "CHIMECAST_REDIS_URL needs the redis package: pip install chimecast[redis]"
            )
        super().__init__(node_id)
        self.channel = channel
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
        self.subscribed = gevent.event.Event()
        self.publish_failures = 0
        self.last_publish_seconds = 0.0
        self._listener: gevent.Greenlet | None = None

    def start(self) -> None:
        self._listener = gevent.spawn(self.listen)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.kill(block=False)

    def publish(self, target: Target, message: dict[str, Any]) -> bool:
        envelope = orjson.dumps(
            {"node": self.node_id, "target": asdict(target), "message": message}
        )
        started = time.perf_counter()
        try:
            self.redis.publish(self.channel, envelope)
        except redis.RedisError as exc:
            self.publish_failures += 1
            metrics.REDIS_FAILURES.inc()
            error = type(exc).__name__
            logs.event(log, "redis.publish_failed", logging.WARNING, node=self.node_id, error=error)
            return False
        self.last_publish_seconds = time.perf_counter() - started
        metrics.REDIS_SECONDS.observe(self.last_publish_seconds)
        return True

    def listen(self) -> None:
        """Subscribe and deliver other nodes' messages forever; resubscribe after failures."""
        attempt = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.subscribed.set()
                attempt = 0
                logs.event(log, "redis.subscribed", node=self.node_id, channel=self.channel)
                for item in pubsub.listen():
                    self._on_published(item.get("data"))
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

    def _on_published(self, data: Any) -> None:
        """Deliver one envelope from another node; a bad one is logged, never fatal."""
        try:
            envelope = orjson.loads(data)
            if envelope["node"] == self.node_id:
                return  # our own echo: already delivered locally
            self.deliver_local(Target(**envelope["target"]), envelope["message"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            logs.event(
                log, "redis.bad_envelope", logging.WARNING, node=self.node_id, error=str(exc)
            )
