"""GET /healthz, /readyz, /openapi.json and /ice-servers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from flask_migrate import upgrade

from app.extensions import db


def test_healthz_is_ok_without_login_or_database(make_app):
    app = make_app(create=False, SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/x.db")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(make_app):
    app = make_app(create=False)
    with app.app_context():
        upgrade()
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["revision"]


@pytest.mark.parametrize("tables", [False, True], ids=["empty-db", "tables-but-no-migrations"])
def test_readyz_is_503_while_migrations_are_pending(make_app, tables):
    app = make_app(create=tables)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "migrations_pending"
    assert "flask db upgrade" in response.json["message"]


def test_readyz_is_503_when_database_is_unreachable(make_app):
    app = make_app(create=False, SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/x.db")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "database_unavailable"


def test_readyz_is_503_after_a_downgrade(make_app):
    from flask_migrate import downgrade

    app = make_app(create=False)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        db.session.remove()
    assert app.test_client().get("/readyz").status_code == 503


def test_openapi_document_is_openapi_3_with_bearer_security(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert "security" not in spec["paths"]["/login"]["post"]
    assert spec["paths"]["/me"]["get"]["security"] == [{"bearer": []}]
    register = spec["paths"]["/register"]["post"]
    ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"username", "password"}


def test_ice_servers_without_turn_secret_has_no_credentials(client, login, app):
    app.config.update(STUN_URLS=["stun:stun.example.org:3478"], TURN_URLS=["turn:t.example.org"])
    response = client.get("/ice-servers", headers=login("alice"))
    assert response.status_code == 200
    assert response.json == {"ice_servers": [{"urls": ["stun:stun.example.org:3478"]}], "ttl": None}


def test_ice_servers_with_turn_secret_has_rest_api_credentials(client, login, app, clock):
    app.config.update(
        STUN_URLS=["stun:stun.example.org:3478"],
        TURN_URLS=["turn:t.example.org:3478", "turns:t.example.org:5349"],
        TURN_SECRET="north-wind",
        TURN_TTL=900,
    )
    response = client.get("/ice-servers", headers=login("alice"))
    assert response.status_code == 200
    assert response.json["ttl"] == 900
    turn = response.json["ice_servers"][1]
    assert turn["urls"] == ["turn:t.example.org:3478", "turns:t.example.org:5349"]
    assert turn["username"] == f"{int(clock.now.timestamp()) + 900}:alice"
    expected = hmac.new(b"north-wind", turn["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(turn["credential"]) == expected


def test_ice_servers_needs_login(client):
    assert client.get("/ice-servers").status_code == 401
