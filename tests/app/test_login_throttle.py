"""Login throttling per account and per client IP: 429 + Retry-After, reset on success."""

from __future__ import annotations

import pytest

from app.models import AuthEvent
from tests.app.helpers import rows
from tests.conftest import PASSWORD

WRONG = "not the right password"


def fail(auth, username: str, times: int, ip: str | None = None, **kwargs) -> None:
    headers = {"X-Forwarded-For": ip} if ip else {}
    for _ in range(times):
        response = auth.login(username, WRONG, headers=headers, **kwargs)
        assert response.status_code == 401, response.json


def test_account_is_throttled_after_max_failures_with_retry_after(auth, app, clock):
    auth.register("alice")
    fail(auth, "alice", 5)
    response = auth.login("alice")  # even the right password waits
    assert response.status_code == 429
    assert response.json["error"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) == app.config["LOGIN_WINDOW"]
    clock.advance(seconds=100)
    assert int(auth.login("alice").headers["Retry-After"]) == app.config["LOGIN_WINDOW"] - 100


def test_account_throttle_lifts_when_failures_leave_the_window(auth, app, clock):
    auth.register("alice")
    fail(auth, "alice", 5)
    assert auth.login("alice").status_code == 429
    clock.advance(seconds=app.config["LOGIN_WINDOW"] + 1)
    assert auth.login("alice").status_code == 200


def test_throttled_attempts_are_logged_and_do_not_extend_the_lock(auth, app, clock):
    auth.register("alice")
    fail(auth, "alice", 5)
    for _ in range(3):
        assert auth.login("alice", WRONG).status_code == 429
    kinds = [row["kind"] for row in rows(app, AuthEvent, username="alice")]
    assert kinds.count("login_throttled") == 3 and kinds.count("login_failure") == 5
    clock.advance(seconds=app.config["LOGIN_WINDOW"] + 1)
    assert auth.login("alice").status_code == 200


def test_success_resets_the_failure_count(auth):
    auth.register("alice")
    fail(auth, "alice", 4)
    assert auth.login("alice").status_code == 200
    fail(auth, "alice", 4)  # would be the 8th failure in the window without the reset
    assert auth.login("alice").status_code == 200


def test_throttle_of_one_account_does_not_lock_out_another(auth):
    auth.register("alice")
    auth.register("bob")
    fail(auth, "alice", 5)
    assert auth.login("alice").status_code == 429
    assert auth.login("bob").status_code == 200


def test_unknown_usernames_are_throttled_like_real_ones(auth):
    fail(auth, "nobody", 5)
    response = auth.login("nobody")
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_client_ip_is_throttled_across_usernames(auth, app):
    names = [f"user{i}" for i in range(5)]
    for name in names:
        auth.register(name)
    for name in names:
        fail(auth, name, 4)  # 20 failures from one IP, no account over its limit
    response = auth.login("user0")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    other_ip = auth.login("user0", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other_ip.status_code == 200


def test_x_forwarded_for_is_ignored_without_trusted_proxies(auth, app):
    for i in range(5):
        fail(auth, f"user{i}", 4, ip=f"203.0.113.{i}")
    # All 20 failures count against the real peer address, whatever the header claims.
    assert (
        auth.login("user9", WRONG, headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429
    )
    assert {row["ip"] for row in rows(app, AuthEvent)} == {"127.0.0.1"}


@pytest.mark.parametrize("hops", [1, 2])
def test_x_forwarded_for_is_honoured_with_trusted_proxies(make_app, hops):
    from tests.conftest import Auth

    app = make_app(TRUSTED_PROXIES=hops)
    auth = Auth(app.test_client())
    auth.register("alice")
    for i in range(5):
        # The client may put anything on the left (6.6.6.6); each trusted proxy appends one hop.
        chain = ", ".join(["6.6.6.6", f"203.0.113.{i}"] + ["10.0.0.1"] * (hops - 1))
        fail(auth, f"user{i}", 4, ip=chain)
    chain = ", ".join(["6.6.6.6", "203.0.113.0"] + ["10.0.0.1"] * (hops - 1))
    response = auth.login("alice", PASSWORD, headers={"X-Forwarded-For": chain})
    assert response.status_code == 200, "each forwarded client IP is counted on its own"
    failure_ips = {row["ip"] for row in rows(app, AuthEvent, kind="login_failure")}
    assert failure_ips == {f"203.0.113.{i}" for i in range(5)}
    blocked = ", ".join(["6.6.6.6", "203.0.113.66"] + ["10.0.0.1"] * (hops - 1))
    for i in range(5, 10):
        fail(auth, f"user{i}", 4, ip=blocked)  # 20 failures from one forwarded client IP
    assert auth.login("alice", PASSWORD, headers={"X-Forwarded-For": blocked}).status_code == 429
    assert auth.login("alice", PASSWORD, headers={"X-Forwarded-For": chain}).status_code == 200


def outcomes(auth, attempts, **kwargs) -> list[int]:
    return [auth.login(name, password, **kwargs).status_code for name, password in attempts]


def test_logging_in_to_ones_own_account_never_resets_the_ip_count(auth):
    """The audit's attack: 19 guesses over 15 victims, then a login of the attacker's own
    account to wipe the slate, three times over. The 20th guess must close the IP."""
    victims = [f"victim{i}" for i in range(15)]
    for i, name in enumerate([*victims, "mallory"]):  # registered from 16 addresses
        body = {"username": name, "password": PASSWORD}
        address = {"REMOTE_ADDR": f"198.51.100.{i}"}
        assert auth.client.post("/register", json=body, environ_base=address).status_code == 201
    seen: list[int] = []
    for _ in range(3):
        guesses = [(victims[i % 15], WRONG) for i in range(19)]
        seen += outcomes(auth, [*guesses, ("mallory", PASSWORD)])
    assert seen[:19] == [401] * 19 and seen[19] == 200
    assert seen.count(401) == 20, "exactly LOGIN_MAX_FAILURES_PER_IP guesses get checked"
    assert seen[21:] == [429] * (len(seen) - 21), "then nothing from that IP, not even mallory"


def test_strangers_cannot_lock_the_owner_out(auth, app):
    auth.register("alice")
    stranger = {"environ_base": {"REMOTE_ADDR": "203.0.113.50"}}
    fail(auth, "alice", 5, **stranger)
    assert auth.login("alice", **stranger).status_code == 429, "the guessing address is stopped"
    # The owner's address never failed for alice: her password still works, and a typo
    # of hers is an ordinary 401, not a lock-out.
    assert auth.login("alice", WRONG).status_code == 401
    assert auth.login("alice").status_code == 200
    assert auth.login("alice", **stranger).status_code == 429, "the owner's login frees nobody"


def test_a_success_resets_the_account_count_of_its_own_address_only(auth):
    auth.register("alice")
    other = {"environ_base": {"REMOTE_ADDR": "203.0.113.51"}}
    fail(auth, "alice", 4, **other)
    fail(auth, "alice", 4)
    assert auth.login("alice").status_code == 200  # resets alice from 127.0.0.1
    fail(auth, "alice", 4)
    assert auth.login("alice").status_code == 200
    fail(auth, "alice", 1, **other)  # the 5th failure from the other address
    assert auth.login("alice", **other).status_code == 429
