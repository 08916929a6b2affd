"""Rate limiting and the settings the daemon reads."""

from __future__ import annotations

from signaling.settings import Settings
from signaling.transport.handshake import handler_class
from signaling.transport.limits import TokenBucket, WindowCounter


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.15  # one and a half tokens back
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 5


def test_window_counter_restarts_after_the_window():
    clock = Clock()
    counter = WindowCounter(10, clock=clock)
    assert [counter.add() for _ in range(3)] == [1, 2, 3]
    clock.now += 11
    assert counter.add() == 1


def test_settings_come_from_config_keys_and_default_the_node_id():
    config = {
        "MAX_MESSAGE_BYTES": 1000,
        "HEARTBEAT_INTERVAL": 0.5,
        "RECONNECT_GRACE": 2,
        "ALLOWED_ORIGINS": ["http://a"],
        "NODE_ID": "",
        "SECRET_KEY": "ignored",
    }
    settings = Settings.from_config(config, port=8123)
    assert settings.max_message_bytes == 1000
    assert settings.heartbeat_interval == 0.5
    assert settings.reconnect_grace == 2
    assert settings.allowed_origins == ("http://a",)
    assert settings.node_id.endswith(":8123")
    assert settings.hello_timeout == 5.0
    assert Settings.from_config({"NODE_ID": "n1"}).node_id == "n1"


def test_the_handshake_handler_takes_its_limits_from_the_settings():
    config = {"HANDSHAKE_TIMEOUT": 3, "MAX_FRAGMENTS": 8, "FRAMES_PER_MESSAGE": 2}
    settings = Settings.from_config({**config, "MESSAGE_RATE": 10, "MESSAGE_BURST": 30})
    handler = handler_class("/ws", settings, lambda origin, host: True)
    assert (handler.handshake_timeout, handler.max_fragments) == (3, 8)
    assert (handler.frame_rate, handler.frame_burst) == (20, 60)  # 2 frames per message
    assert handler.max_message == settings.max_message_bytes == 64 * 1024
