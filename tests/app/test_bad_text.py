"""Text no database takes (NUL, lone surrogates) and JSON nested without end are refused
with 400 `invalid_request` wherever they arrive, before anything is stored.

Run with CHIMECAST_TEST_DATABASE_URL set these go to PostgreSQL, whose driver refuses NUL
in text (a 500 before the validation existed); on SQLite they were stored or matched.
"""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import literal, select

from app.extensions import db
from tests.app.helpers import counts
from tests.conftest import PASSWORD

NUL = "ab\u0000c"


@pytest.fixture
def alice(login) -> dict[str, str]:
    return login("alice")


@pytest.fixture
def meeting_id(client, alice) -> int:
    return client.post("/meetings", json={"name": "m"}, headers=alice).json["meeting"]["id"]


# (case id, method, path template, JSON body or None, needs auth). `{m}` is a meeting id.
CASES = [
    ("login-username", "POST", "/login", {"username": NUL, "password": PASSWORD}, False),
    ("login-password", "POST", "/login", {"username": "alice", "password": NUL}, False),
    ("register-username", "POST", "/register", {"username": NUL, "password": PASSWORD}, False),
    ("register-display", "POST", "/register",
     {"username": "zed", "password": PASSWORD, "display_name": NUL}, False),
    ("register-key", "POST", "/register", {"username": "zed", "password": PASSWORD, NUL: 1},
     False),
    ("profile", "PATCH", "/me", {"display_name": NUL}, True),
    ("call-callee", "POST", "/call/start", {"callee": NUL}, True),
    ("meeting-name", "POST", "/meetings", {"name": NUL}, True),
    ("meeting-invite", "POST", "/meetings/{m}/join", {"invite": "cci_" + NUL}, True),
    ("meeting-admit", "POST", "/meetings/{m}/admit", {"username": NUL}, True),
    ("meeting-deny", "POST", "/meetings/{m}/deny", {"username": NUL}, True),
    ("meeting-host", "POST", "/meetings/{m}/host", {"username": NUL}, True),
    ("search", "GET", "/users?q=a%00b", None, True),
    ("query-key", "GET", "/users?a%00b=1", None, True),
    ("user-path", "GET", "/users/ab%00c", None, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "needs_auth"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_nul_in_any_string_is_invalid_request(
    app, client, alice, meeting_id, method, path, body, needs_auth
):
    before = counts(app)
    headers = alice if needs_auth else {}
    response = client.open(path.format(m=meeting_id), method=method, json=body, headers=headers)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
    assert counts(app) == before


@pytest.mark.parametrize("header", ["User-Agent", "X-Forwarded-For"])
def test_nul_in_a_header_stored_as_data_is_invalid_request(app, client, header):
    before = counts(app)
    response = client.post(
        "/register",
        json={"username": "zed", "password": PASSWORD},
        headers={header: "agent\u0000x"},
    )
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
    assert counts(app) == before


def test_lone_surrogate_is_invalid_request(app, client):
    before = counts(app)
    body = json.dumps({"username": "zed", "password": PASSWORD, "display_name": "?"})
    raw = body.replace('"?"', '"\\ud800"')
    response = client.post("/register", data=raw, content_type="application/json")
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
    assert counts(app) == before


@pytest.mark.parametrize("depth", [33, 1_500])
def test_deeply_nested_body_is_invalid_request(client, depth):
    body = '{"username": ' + "[" * depth + "]" * depth + ', "password": "x"}'
    assert len(body) < 16 * 1024
    response = client.post("/login", data=body, content_type="application/json")
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"


def test_ordinary_text_still_passes(client, alice):
    response = client.post(
        "/meetings", json={"name": "Tea \u00e9 \u2603 \U0001f375"}, headers=alice
    )
    assert response.status_code == 201
    assert response.json["meeting"]["name"] == "Tea \u00e9 \u2603 \U0001f375"


@pytest.mark.skipif(
    not os.environ.get("CHIMECAST_TEST_DATABASE_URL"),
    reason="only PostgreSQL refuses text with NUL (set CHIMECAST_TEST_DATABASE_URL)",
)
def test_a_value_the_database_refuses_is_a_400_not_a_500(app):
    """The net under validation: a route that hands PostgreSQL text with NUL."""

    @app.get("/_test/nul")
    def _nul():
        db.session.execute(select(literal(NUL)))
        return "unreachable"

    response = app.test_client().get("/_test/nul")
    assert response.status_code == 400
    assert json.loads(response.data)["error"] == "invalid_request"
