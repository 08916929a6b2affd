"""Whatever a client sends, the answer is a 4xx in the one error shape, and nothing changes."""

from __future__ import annotations

import json

import pytest

from tests.app.helpers import counts
from tests.conftest import PASSWORD

# (method, path, a valid body) for every endpoint that takes a JSON body.
BODY_ENDPOINTS = [
    ("POST", "/register", {"username": "newbie", "password": PASSWORD}),
    ("POST", "/login", {"username": "alice", "password": PASSWORD}),
    ("PATCH", "/me", {"display_name": "Al"}),
    ("POST", "/me/password", {"current_password": PASSWORD, "new_password": "x" * 20}),
    ("DELETE", "/me", {"password": PASSWORD}),
    ("POST", "/call/start", {"callee": "bob"}),
    ("POST", "/call/accept", {"call_id": 1}),
    ("POST", "/call/decline", {"call_id": 1}),
    ("POST", "/call/end", {"call_id": 1}),
]


def broken_bodies(valid: dict) -> list[tuple[str, dict, int, str]]:
    """(case id, request kwargs, status, error code) of bad variants of `valid`."""
    first = next(iter(valid))
    wrong_type = {**valid, first: 12345 if isinstance(valid[first], str) else "12345"}
    missing = {k: v for k, v in valid.items() if k != first}
    return [
        ("malformed", {"data": '{"username": ', "content_type": "application/json"}, 400, "invalid_json"),
        ("not-utf8", {"data": b'{"a": "\xff\xfe"}', "content_type": "application/json"}, 400, "invalid_json"),
        ("array", {"json": [valid]}, 400, "invalid_json"),
        ("null", {"json": None, "data": "null", "content_type": "application/json"}, 400, "invalid_json"),
        ("string", {"data": '"hello"', "content_type": "application/json"}, 400, "invalid_json"),
        ("empty", {"data": "", "content_type": "application/json"}, 400, "invalid_json"),
        ("form", {"data": {"x": "1"}}, 415, "unsupported_media_type"),
        ("text", {"data": json.dumps(valid), "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ("no-type", {"data": json.dumps(valid)}, 415, "unsupported_media_type"),
        ("wrong-type", {"json": wrong_type}, 400, "invalid_field"),
        ("null-field", {"json": {**valid, first: None}}, 400, "invalid_field"),
        ("missing", {"json": missing}, 400, "missing_field"),
        ("unknown", {"json": {**valid, "is_admin": True}}, 400, "unknown_field"),
        ("oversized", {"json": {**valid, "pad": "x" * 20_000}}, 413, "payload_too_large"),
    ]  # fmt: skip


# One parser serves every endpoint: the whole table runs against one endpoint per kind
# (public, signed-in, non-POST), the core of it against all the others.
FULL_TABLE = {"/register", "/call/start", "/me"}
CORE_CASES = {"malformed", "form", "wrong-type", "missing", "unknown", "oversized"}
CASES = [
    pytest.param(method, path, kwargs, status, code, id=f"{method} {path} {case}")
    for method, path, valid in BODY_ENDPOINTS
    for case, kwargs, status, code in broken_bodies(valid)
    if path in FULL_TABLE or case in CORE_CASES
]


@pytest.fixture
def world(client, login, app):
    """alice (signed in) has a ringing call to bob; returns her headers."""
    alice = login("alice")
    bob = login("bob")
    client.post("/call/start", json={"callee": "bob"}, headers=alice)
    client.get("/me", headers=bob)
    return alice


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), CASES)
def test_bad_bodies_get_a_4xx_error_shape_and_change_nothing(
    client, app, world, method, path, kwargs, status, code
):
    kwargs = dict(kwargs)
    if "json" in kwargs and kwargs["json"] is None:
        kwargs.pop("json")
    before = counts(app)
    response = client.open(path, method=method, headers=world, **kwargs)
    assert response.status_code == status, response.json
    assert response.json["error"] == code
    assert set(response.json) == {"error", "message"} and response.json["message"]
    assert counts(app) == before


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/login", {"POST"}),
        ("PUT", "/me", {"GET", "PATCH", "DELETE"}),
        ("DELETE", "/calls", {"GET"}),
        ("POST", "/healthz", {"GET"}),
        ("GET", "/call/start", {"POST"}),
        ("POST", "/me/sessions", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow_header(client, app, world, method, path, allowed):
    before = counts(app)
    response = client.open(path, method=method, headers=world, json={})
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed" and response.json["message"]
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert counts(app) == before


def test_unknown_path_is_404_in_the_error_shape(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json["error"] == "not_found" and set(response.json) == {"error", "message"}


def test_oversized_body_is_refused_before_any_work(client, app):
    body = json.dumps(
        {"username": "alice", "password": "p" * (app.config["MAX_CONTENT_LENGTH"] + 1)}
    )
    response = client.post("/register", data=body, content_type="application/json")
    assert response.status_code == 413
    assert counts(app)["users"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "x" * 1025},  # over the schema's hard cap
        {"username": "a" * 65, "password": PASSWORD},
        {"username": ["alice"], "password": PASSWORD},
        {"username": {"$ne": ""}, "password": PASSWORD},
    ],
)
def test_register_and_login_refuse_out_of_range_values(client, app, body):
    for path in ("/register", "/login"):
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.json)
        assert response.json["error"] == "invalid_field"
    assert counts(app)["users"] == 0 and counts(app)["auth_events"] == 0
