"""ICE server lists and time-limited TURN credentials (coturn `use-auth-secret`).

The TURN REST API scheme: username = "<expiry unix time>:<user>", credential =
base64(HMAC-SHA1(static-auth-secret, username)). coturn recomputes the HMAC and refuses
the username once its expiry time has passed, so nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from flask import current_app

from app.clock import utcnow


def turn_credentials(secret: str, user_label: str, ttl: int, now: float) -> tuple[str, str]:
    """(username, credential) valid until `now + ttl` for `user_label`."""
    username = f"{int(now) + ttl}:{user_label}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(username: str) -> tuple[list[dict[str, Any]], int | None]:
    """The RTCIceServer list for `username` and the TURN credential lifetime (or None)."""
    config = current_app.config
    servers: list[dict[str, Any]] = []
    if config["STUN_URLS"]:
        servers.append({"urls": list(config["STUN_URLS"])})
    ttl = None
    if config["TURN_URLS"] and config["TURN_SECRET"]:
        ttl = config["TURN_TTL"]
        user, credential = turn_credentials(
            config["TURN_SECRET"], username, ttl, utcnow().timestamp()
        )
        servers.append(
            {"urls": list(config["TURN_URLS"]), "username": user, "credential": credential}
        )
    return servers, ttl
