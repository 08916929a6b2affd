"""A small client of the Janus HTTP API (sessions, handles, long-poll) and Admin API.

ChimeCast manages rooms through the Admin API's `message_plugin` (no session to keep
alive) and revokes credentials with `remove_token`; `JanusSession` is the participant's
side, used by tests and bots to join a room the way a browser does.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

VIDEOROOM = "janus.plugin.videoroom"


class JanusError(RuntimeError):
    """Janus answered with an error (`code` is Janus's or the plugin's error code), or
    could not be reached (`code` 0)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


def _transaction() -> str:
    return secrets.token_hex(8)


def _http(url: str, body: dict[str, Any] | None, timeout: float) -> Any:
    """One JSON request (POST with `body`, else GET); JanusError(0) when it fails."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError) as exc:  # URLError, HTTPError and timeouts are OSErrors
        raise JanusError(0, f"{url}: {exc.__class__.__name__}") from exc


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    reply = _http(url, {**body, "transaction": _transaction()}, timeout)
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise JanusError(error.get("code", 0), error.get("reason", "error"))
    return reply


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    """The VideoRoom's answer; its own errors (`error_code`) raise JanusError."""
    data = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data:
        raise JanusError(data["error_code"], data.get("error", "videoroom error"))
    return data


class JanusAdmin:
    """The Admin API of one node: stored tokens, sessions, and VideoRoom requests."""

    def __init__(self, url: str, secret: str, admin_key: str = "", timeout: float = 2.0) -> None:
        self.url, self.secret, self.admin_key, self.timeout = url, secret, admin_key, timeout

    def _call(self, body: dict[str, Any], path: str = "") -> dict[str, Any]:
        return _post(self.url + path, {**body, "admin_secret": self.secret}, self.timeout)

    def ping(self) -> None:
        """Raise JanusError unless the node answers."""
        self._call({"janus": "ping"})

    def videoroom(self, request: dict[str, Any]) -> dict[str, Any]:
        """One synchronous VideoRoom request (create, destroy, allowed, kick, ...)."""
        reply = self._call({"janus": "message_plugin", "plugin": VIDEOROOM, "request": request})
        data = reply.get("response", {})
        if "error_code" in data:
            raise JanusError(data["error_code"], data.get("error", "videoroom error"))
        return data

    def create_room(self, room: int, secret: str, publishers: int, description: str) -> None:
        """A private room that only tokens in its `allowed` list may join, and whose
        subscribers must present a publisher's private id (so only joined participants
        can subscribe)."""
        request = {
            "request": "create",
            "room": room,
            "secret": secret,
            "description": description,
            "publishers": publishers,
            "is_private": True,
            "allowed": [],
            "require_pvtid": True,
            "notify_joining": True,
        }
        if self.admin_key:
            request["admin_key"] = self.admin_key
        self.videoroom(request)

    def destroy_room(self, room: int, secret: str) -> None:
        self.videoroom({"request": "destroy", "room": room, "secret": secret})

    def allow(self, room: int, secret: str, token: str, allowed: bool = True) -> None:
        """Add `token` to (or remove it from) the room's allowed list."""
        action = "add" if allowed else "remove"
        self.videoroom(
            {"request": "allowed", "room": room, "secret": secret, "action": action,
             "allowed": [token]}
        )  # fmt: skip

    def kick(self, room: int, secret: str, feed_id: int) -> None:
        self.videoroom({"request": "kick", "room": room, "secret": secret, "id": feed_id})

    def participants(self, room: int) -> list[dict[str, Any]]:
        return self.videoroom({"request": "listparticipants", "room": room})["participants"]

    def rooms(self) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"request": "list"}
        if self.admin_key:
            request["admin_key"] = self.admin_key
        return self.videoroom(request).get("list", [])

    def add_token(self, token: str) -> None:
        """A stored token good for the VideoRoom plugin only."""
        self._call({"janus": "add_token", "token": token, "plugins": [VIDEOROOM]})

    def remove_token(self, token: str) -> None:
        self._call({"janus": "remove_token", "token": token})

    def evict(self, token: str) -> int:
        """Destroy every session whose handles were opened with `token` (their publisher
        leaves the room and their subscriptions stop at once); returns how many."""
        evicted = 0
        for session in self._call({"janus": "list_sessions"}).get("sessions", []):
            try:
                handles = self._call({"janus": "list_handles"}, f"/{session}").get("handles", [])
                if any(self._token_of(session, handle) == token for handle in handles):
                    self._call({"janus": "destroy_session"}, f"/{session}")
                    evicted += 1
            except JanusError as exc:
                if exc.code != 458:  # the session went away meanwhile: nothing to evict
                    raise
        return evicted

    def _token_of(self, session: int, handle: int) -> str | None:
        try:
            info = self._call({"janus": "handle_info"}, f"/{session}/{handle}")
        except JanusError as exc:
            if exc.code in (458, 459):  # no such session / handle any more
                return None
            raise
        return info.get("info", {}).get("token")


class JanusSession:
    """A participant's session on the Janus HTTP API, with its stored token."""

    def __init__(self, url: str, token: str | None, timeout: float = 5.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout
        self.id = self._call({"janus": "create"})["data"]["id"]

    def _call(self, body: dict[str, Any], path: str = "") -> dict[str, Any]:
        if self.token is not None:
            body = {**body, "token": self.token}
        return _post(self.url + path, body, self.timeout)

    def attach(self) -> int:
        """A VideoRoom handle in this session."""
        return self._call({"janus": "attach", "plugin": VIDEOROOM}, f"/{self.id}")["data"]["id"]

    def request(self, handle: int, body: dict[str, Any], jsep: dict | None = None) -> dict:
        """A VideoRoom request; asynchronous ones (join, configure) are waited for on the
        long poll. Returns the plugin's data, with the event's `jsep` under `"jsep"`."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        reply = self._call(message, f"/{self.id}/{handle}")
        if reply.get("janus") != "ack":
            return _plugin_data(reply)
        while True:
            for event in self.poll():
                if event.get("transaction") == reply["transaction"] and "plugindata" in event:
                    data = _plugin_data(event)
                    return {**data, "jsep": event["jsep"]} if "jsep" in event else data

    def poll(self) -> list[dict[str, Any]]:
        """Events waiting on the long poll (up to 10, at most ~timeout seconds)."""
        params: dict[str, Any] = {"maxev": 10, "rid": _transaction()}
        if self.token is not None:
            params["token"] = self.token
        reply = _http(f"{self.url}/{self.id}?{urlencode(params)}", None, self.timeout)
        events = reply if isinstance(reply, list) else [reply]
        for event in events:
            if event.get("janus") == "error":
                error = event.get("error", {})
                raise JanusError(error.get("code", 0), error.get("reason", "error"))
        return [e for e in events if e.get("janus") != "keepalive"]

    def keepalive(self) -> None:
        """Keep the session from timing out (Janus's session_timeout, 60 s by default)."""
        self._call({"janus": "keepalive"}, f"/{self.id}")

    def destroy(self) -> None:
        self._call({"janus": "destroy"}, f"/{self.id}")
