"""Password policy (NIST SP 800-63B / OWASP ASVS 5) and Argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.auth.passwords import (
    check_password_policy,
    common_passwords,
    hash_password,
    needs_rehash,
    verify_password,
)
from app.errors import ApiError


def policy_error(password: str, username: str = "alice") -> str | None:
    """The policy's message for `password`, or None when it is accepted."""
    try:
        check_password_policy(password, username)
    except ApiError as exc:
        assert exc.status == 400 and exc.code == "weak_password"
        return exc.message
    return None


@pytest.mark.parametrize(
    "password",
    [
        "x7#kQ9!m",  # exactly the default minimum of 8
        "correct horse battery staple",
        "a" * 7 + "b",  # no composition rules: lower-case only is fine
        "73019284651",  # digits only, not on the common list
        "ĉu vi parolas esperanton?",  # any Unicode
        "p" * 64,  # 64 characters must be accepted
        "q" * 256,  # up to the configured maximum
        "with spaces in between",
    ],
)
def test_policy_accepts_passwords_without_composition_rules(app, password):
    with app.app_context():
        assert policy_error(password) is None


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 8"),
        ("Ab1!xyz", "at least 8"),  # 7 characters, however "complex"
        ("q" * 257, "at most 256"),
        ("password", "too common"),
        ("12345678", "too common"),
        ("PASSWORD1", "too common"),  # compared case-insensitively
        ("qwertyuiop", "too common"),
        ("aliceliddell", None),  # a control row: similar to the username but not equal
        ("AliceLiddell".lower(), None),
    ],
)
def test_policy_rejects_short_long_and_common_passwords(app, password, message):
    with app.app_context():
        error = policy_error(password, username="alice")
    if message is None:
        assert error is None
    else:
        assert error is not None and message in error


def test_password_equal_to_username_is_rejected(app):
    with app.app_context():
        assert "username" in policy_error("Mallory-the-great", username="mallory-the-great")


def test_minimum_length_is_configurable(app):
    app.config["PASSWORD_MIN_LENGTH"] = 12
    with app.app_context():
        assert "at least 12" in policy_error("elevenchars")
        assert policy_error("twelve chars") is None


def test_common_password_list_is_loaded_and_sizeable():
    common = common_passwords()
    assert len(common) > 5000
    assert "password" in common and "iloveyou" in common


def test_hash_is_argon2id_with_configured_parameters(app):
    with app.app_context():
        stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert "m=1024,t=1,p=1" in stored  # the fixture's cheap parameters
    assert "correct horse" not in stored


def test_long_password_is_never_truncated(app):
    """Two 100-character passwords that differ only in the last character must not match."""
    first = "z" * 99 + "1"
    second = "z" * 99 + "2"
    with app.app_context():
        stored = hash_password(first)
        assert verify_password(stored, first)
        assert not verify_password(stored, second)
        assert not verify_password(stored, first[:72])  # bcrypt's classic truncation point


def test_verify_rejects_wrong_password_and_malformed_hash(app):
    with app.app_context():
        stored = hash_password("correct horse battery staple")
        assert not verify_password(stored, "correct horse battery stapl")
        assert not verify_password("not-a-hash", "anything at all")
        assert not verify_password("", "anything at all")


def test_needs_rehash_when_parameters_change(app):
    with app.app_context():
        stored = hash_password("correct horse battery staple")
        assert not needs_rehash(stored)
        app.config["ARGON2_TIME_COST"] = 2
        assert needs_rehash(stored)
        # The old hash still verifies, so the login can upgrade it.
        assert verify_password(stored, "correct horse battery staple")
        assert not needs_rehash(hash_password("correct horse battery staple"))


def test_hash_made_elsewhere_with_other_memory_cost_needs_rehash(app):
    foreign = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=1).hash("x" * 20)
    with app.app_context():
        assert verify_password(foreign, "x" * 20)
        assert needs_rehash(foreign)
