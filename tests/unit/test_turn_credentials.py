"""TURN REST API credentials (coturn use-auth-secret), checked against an independent HMAC."""

from __future__ import annotations

import base64
import hmac
from hashlib import sha1

from app.ice.credentials import ice_servers_for, turn_credentials


def independent_credential(secret: str, username: str) -> str:
    mac = hmac.HMAC(secret.encode("utf-8"), msg=username.encode("utf-8"), digestmod=sha1)
    return base64.standard_b64encode(mac.digest()).decode("ascii")


def test_username_is_expiry_colon_user_and_credential_is_base64_hmac_sha1():
    username, credential = turn_credentials("s3cret", "alice", ttl=3600, now=1_700_000_000.9)
    assert username == "1700003600:alice"
    assert credential == independent_credential("s3cret", "1700003600:alice")
    assert len(base64.b64decode(credential)) == 20  # SHA-1 digest size


def test_credential_depends_on_secret_user_and_expiry():
    base = turn_credentials("s3cret", "alice", 3600, 1_700_000_000)[1]
    assert turn_credentials("other", "alice", 3600, 1_700_000_000)[1] != base
    assert turn_credentials("s3cret", "bob", 3600, 1_700_000_000)[1] != base
    assert turn_credentials("s3cret", "alice", 3601, 1_700_000_000)[1] != base


def test_ice_servers_carry_credentials_valid_for_ttl(app, clock):
    app.config.update(
        STUN_URLS=["stun:stun.example.org:3478"],
        TURN_URLS=["turn:turn.example.org:3478?transport=udp"],
        TURN_SECRET="coturn-static-secret",
        TURN_TTL=600,
    )
    with app.app_context():
        servers, ttl = ice_servers_for("alice")
    assert ttl == 600
    stun, turn = servers
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    expiry = int(clock.now.timestamp()) + 600
    assert turn["username"] == f"{expiry}:alice"
    assert turn["credential"] == independent_credential("coturn-static-secret", turn["username"])


def test_no_turn_entry_without_secret(app):
    app.config.update(TURN_URLS=["turn:turn.example.org"], TURN_SECRET="")
    with app.app_context():
        servers, ttl = ice_servers_for("alice")
    assert ttl is None
    assert all("credential" not in server for server in servers)
