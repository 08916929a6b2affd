"""Password hashing (Argon2id) and the password policy (NIST SP 800-63B / OWASP ASVS 5)."""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from app.errors import ApiError


def _hasher() -> PasswordHasher:
    config = current_app.config
    return _hasher_for(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"], config["ARGON2_PARALLELISM"]
    )


@functools.lru_cache(maxsize=8)
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; a malformed stored hash counts as no match."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the configured ones."""
    return _hasher().check_needs_rehash(password_hash)


# Verifying against this keeps a login for an unknown user as slow as one with a bad password.
@functools.lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher_for(time_cost, memory_kib, parallelism).hash("chimecast-timing-equaliser")


def burn_verification_time(password: str) -> None:
    config = current_app.config
    dummy = _dummy_hash(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"], config["ARGON2_PARALLELISM"]
    )
    verify_password(dummy, password)


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """About 8,000 leaked passwords of 8+ characters (Royce Williams' list, as shipped by Django)."""
    data = resources.files("app.auth").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def check_password_policy(password: str, username: str) -> None:
    """Raise ApiError(400, "weak_password") unless `password` may be used.

    Rules: a minimum length (configurable, default 8), a maximum long enough for passphrases
    (default 256, never truncated), not a known common password, not the username.
    No composition rules, as NIST SP 800-63B advises.
    """
    config = current_app.config
    minimum, maximum = config["PASSWORD_MIN_LENGTH"], config["PASSWORD_MAX_LENGTH"]
    if len(password) < minimum:
        raise ApiError(400, "weak_password", f"Use at least {minimum} characters.")
    if len(password) > maximum:
        raise ApiError(400, "weak_password", f"Use at most {maximum} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise ApiError(400, "weak_password", "That password is too common; choose another.")
    if username and lowered == username.lower():
        raise ApiError(400, "weak_password", "The password must not be the username.")
