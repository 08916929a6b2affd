"""Settings from CHIMECAST_* variables; production refuses to start without a secret key."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from app.config import (
    DEV_SECRET_NOTICE,
    SETTINGS,
    ConfigError,
    finalize,
    load_settings,
    normalize_database_url,
)
from signaling.settings import Settings


def test_defaults_apply_when_environment_is_empty():
    config = load_settings({})
    assert config["TOKEN_IDLE_TIMEOUT"] == 7 * 24 * 3600
    assert config["TOKEN_LIFETIME"] == 30 * 24 * 3600
    assert config["PASSWORD_MIN_LENGTH"] == 8
    assert config["ENV"] == "development"
    assert set(config) == {setting.key for setting in SETTINGS}


def test_values_are_read_with_chimecast_prefix_and_parsed():
    config = load_settings(
        {
            "CHIMECAST_TOKEN_LIFETIME": "60",
            "CHIMECAST_STUN_URLS": "stun:a.example:3478, stun:b.example:3478,",
            "CHIMECAST_TURN_SECRET": "s",
            "TOKEN_IDLE_TIMEOUT": "5",  # without the prefix: ignored
            "CHIMECAST_PASSWORD_MIN_LENGTH": "",  # empty: default
        }
    )
    assert config["TOKEN_LIFETIME"] == 60
    assert config["STUN_URLS"] == ["stun:a.example:3478", "stun:b.example:3478"]
    assert config["TURN_SECRET"] == "s"
    assert config["TOKEN_IDLE_TIMEOUT"] == 7 * 24 * 3600
    assert config["PASSWORD_MIN_LENGTH"] == 8


def test_unparseable_value_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="CHIMECAST_RING_TIMEOUT"):
        load_settings({"CHIMECAST_RING_TIMEOUT": "soon"})


@pytest.mark.parametrize("threads", ["0", "-2", "four"])
def test_the_daemon_needs_at_least_one_database_thread(threads):
    with pytest.raises(ConfigError, match="CHIMECAST_DB_THREADS"):
        load_settings({"CHIMECAST_DB_THREADS": threads})
    assert Settings.from_config(load_settings({"CHIMECAST_DB_THREADS": "2"})).db_threads == 2


@pytest.mark.parametrize(
    "url, threads", [("sqlite:////tmp/x.db", 2), ("postgresql://db.example/chimecast", 4)]
)
def test_database_threads_default_by_database(tmp_path, url, threads):
    """SQLite's writers take turns, so the daemon gets fewer database threads there."""
    config = load_settings({}) | {"SQLALCHEMY_DATABASE_URI": url}
    finalize(config, str(tmp_path))
    assert Settings.from_config(config).db_threads == threads
    config = load_settings({"CHIMECAST_DB_THREADS": "3"}) | {"SQLALCHEMY_DATABASE_URI": url}
    finalize(config, str(tmp_path))
    assert Settings.from_config(config).db_threads == 3


def _app(tmp_path, **overrides):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}",
            "SECRET_KEY": None,
            **overrides,
        }
    )


def test_production_refuses_to_start_without_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="CHIMECAST_SECRET_KEY must be set"):
        _app(tmp_path, ENV="production")


def test_production_refuses_a_short_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="at least 32"):
        _app(tmp_path, ENV="production", SECRET_KEY="too-short")


def test_production_starts_with_a_real_secret_key(tmp_path):
    app = _app(tmp_path, ENV="production", SECRET_KEY="k" * 40, PUBLIC_URL="https://chime.example")
    assert app.config["SECRET_KEY"] == "k" * 40
    assert not app.testing


def test_development_generates_a_secret_key_and_says_so(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="app.config"):
        first = _app(tmp_path, ENV="development")
        second = _app(tmp_path, ENV="development")
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    assert caplog.messages.count(DEV_SECRET_NOTICE) == 2


def test_database_defaults_to_sqlite_in_instance_folder():
    app = create_app({"SECRET_KEY": "k", "ENV": "testing", "DATABASE_URL": None})
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///") and uri.endswith("chimecast.db")
    assert app.instance_path in uri


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_urls_are_normalised_to_psycopg3(url, expected):
    assert normalize_database_url(url) == expected
