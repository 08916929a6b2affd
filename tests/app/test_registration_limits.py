"""Registration: limited per client IP, and closed entirely with CHIMECAST_REGISTRATION=closed."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings
from app.models import AuthEvent, User
from tests.app.helpers import rows
from tests.conftest import PASSWORD, Auth


def register(client, name: str, ip: str = "127.0.0.1", password: str = PASSWORD):
    body = {"username": name, "password": password}
    return client.post("/register", json=body, environ_base={"REMOTE_ADDR": ip})


def test_one_address_registers_at_most_the_limit(make_app):
    app = make_app(REGISTRATION_LIMIT=3, REGISTRATION_WINDOW=3600)
    client = app.test_client()
    assert [register(client, f"user{i}").status_code for i in range(3)] == [201] * 3
    refused = register(client, "user3")
    assert refused.status_code == 429 and refused.json["error"] == "too_many_attempts"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert register(client, "user3", ip="203.0.113.7").status_code == 201, "per address"
    assert {row["username"] for row in rows(app, User)} == {"user0", "user1", "user2", "user3"}
    kinds = [row["kind"] for row in rows(app, AuthEvent, ip="127.0.0.1")]
    assert kinds == ["register"] * 3 + ["register_throttled"]


def test_the_limit_lifts_when_registrations_leave_the_window(make_app, clock):
    app = make_app(REGISTRATION_LIMIT=2, REGISTRATION_WINDOW=600)
    client = app.test_client()
    register(client, "user0"), register(client, "user1")
    assert register(client, "user2").status_code == 429
    clock.advance(seconds=601)
    assert register(client, "user2").status_code == 201


def test_refused_registrations_do_not_use_up_the_limit(make_app):
    app = make_app(REGISTRATION_LIMIT=2)
    client = app.test_client()
    assert register(client, "alice").status_code == 201
    assert register(client, "alice").status_code == 409  # taken
    assert register(client, "bob", password="password").status_code == 400  # too common
    assert register(client, "bob").status_code == 201
    assert register(client, "carol").status_code == 429
    refused = rows(app, AuthEvent, kind="register_refused")
    assert sorted(row["detail"] for row in refused) == ["username_taken", "weak_password"]


def test_closed_registration_refuses_post_register_with_403(make_app):
    app = make_app(REGISTRATION="closed")
    response = register(app.test_client(), "alice")
    assert response.status_code == 403
    assert response.json["error"] == "registration_closed"
    assert rows(app, User) == [] and rows(app, AuthEvent) == []


def test_closed_registration_still_lets_the_admin_cli_create_accounts(make_app):
    app = make_app(REGISTRATION="closed")
    result = app.test_cli_runner().invoke(
        args=["users", "create", "alice", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert Auth(app.test_client()).login("alice").status_code == 200


@pytest.mark.parametrize(
    ("raw", "expected"), [("open", "open"), ("closed", "closed"), (" Closed ", "closed")]
)
def test_registration_switch_reads_open_or_closed(raw, expected):
    assert load_settings({"CHIMECAST_REGISTRATION": raw})["REGISTRATION"] == expected


def test_registration_switch_refuses_anything_else():
    with pytest.raises(ConfigError, match="CHIMECAST_REGISTRATION"):
        load_settings({"CHIMECAST_REGISTRATION": "invite-only"})


def test_registration_is_open_by_default():
    assert load_settings({})["REGISTRATION"] == "open"
