"""A blocking client for ChimeCast's HTTP API (stdlib only); see signaling.client.socket
for the signaling WebSocket."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any


class ApiError(RuntimeError):
    """A non-2xx answer from the HTTP API, with its status and stable error code."""

    def __init__(self, status: int, body: Any) -> None:
        """`body` is the decoded answer; anything but a JSON object counts as an empty one."""
        body = body if isinstance(body, dict) else {}
        super().__init__(f"{status} {body.get('error')}: {body.get('message')}")
        self.status = status
        self.code = body.get("error", "")
        self.body = body


class ApiClient:
    """Blocking HTTP client for the ChimeCast API (stdlib only). Holds one session token."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context` verifies https:// against a private CA (ssl.create_default_context)."""
        self.ssl_context = ssl_context
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.username: str | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """(status, decoded JSON or None). Never raises for HTTP errors."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self.ssl_context
            ) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        """Like `request`, but raises ApiError unless the answer is 2xx."""
        status, payload = self.request(method, path, body)
        if not 200 <= status < 300:
            raise ApiError(status, payload)
        return payload

    def register(self, username: str, password: str, display_name: str = "") -> dict:
        body = {"username": username, "password": password}
        if display_name:
            body["display_name"] = display_name
        return self.call("POST", "/register", body)

    def login(self, username: str, password: str) -> str:
        """Log in, keep the token on this client, and return it."""
        answer = self.call("POST", "/login", {"username": username, "password": password})
        self.token, self.username = answer["token"], answer["user"]["username"]
        return self.token

    def register_and_login(self, username: str, password: str) -> str:
        try:
            self.register(username, password)
        except ApiError as exc:
            if exc.code != "username_taken":
                raise
        return self.login(username, password)

    def logout(self) -> None:
        self.call("POST", "/logout")
        self.token = None

    def start_call(self, callee: str) -> dict:
        """POST /call/start; returns the call record (ApiError 409 `callee_busy` if busy)."""
        return self.call("POST", "/call/start", {"callee": callee})["call"]

    def accept_call(self, call_id: int) -> dict:
        return self.call("POST", "/call/accept", {"call_id": call_id})

    def decline_call(self, call_id: int) -> dict:
        return self.call("POST", "/call/decline", {"call_id": call_id})

    def end_call(self, call_id: int) -> dict:
        return self.call("POST", "/call/end", {"call_id": call_id})

    def get_call(self, call_id: int) -> dict:
        return self.call("GET", f"/calls/{call_id}")

    def ice_servers(self) -> list[dict]:
        return self.call("GET", "/ice-servers")["ice_servers"]
