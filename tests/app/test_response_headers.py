"""Every response is uncacheable and unsniffable; the socket URL comes from configuration."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigError, load_settings

ALWAYS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def assert_safe_headers(response) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (response.request.path, name)


def test_every_kind_of_response_is_no_store_and_nosniff(client, auth, login):
    headers = login("alice")
    responses = [
        auth.login("alice"),  # a fresh token in the body
        auth.login("alice", "wrong password"),  # an error
        client.get("/me", headers=headers),
        client.get("/me/sessions", headers=headers),
        client.get("/ice-servers", headers=headers),
        client.post("/meetings", json={"name": "standup"}, headers=headers),
        client.get("/client-config"),
        client.get("/"),
        client.get("/openapi.json"),
        client.get("/healthz"),
        client.get("/no/such/page"),  # Werkzeug's own 404
        client.post("/login", data="not json", content_type="application/json"),
        client.get("/static/js/api.js"),
    ]
    for response in responses:
        assert response.status_code < 500
        assert_safe_headers(response)


@pytest.mark.parametrize("host", ["evil.example:4444", "localhost"])
def test_a_configured_public_url_decides_the_socket_url_whatever_the_host(make_app, host):
    app = make_app(PUBLIC_URL="https://chime.example")
    client = app.test_client()
    config = client.get("/client-config", headers={"Host": host})
    assert config.json["signaling_url"] == "wss://chime.example/ws"
    page = client.get("/", headers={"Host": host})
    assert "connect-src 'self' wss://chime.example;" in page.headers["Content-Security-Policy"]
    assert "evil" not in page.headers["Content-Security-Policy"]


def test_a_configured_path_is_taken_on_the_public_url(make_app):
    app = make_app(PUBLIC_URL="http://127.0.0.1:8000", SIGNALING_URL="/signal/ws")
    response = app.test_client().get("/client-config", headers={"Host": "evil.example"})
    assert response.json["signaling_url"] == "ws://127.0.0.1:8000/signal/ws"


def test_an_absolute_signaling_url_is_used_as_it_is(make_app):
    app = make_app(PUBLIC_URL="https://chime.example", SIGNALING_URL="wss://sig.example/ws")
    assert app.test_client().get("/client-config").json["signaling_url"] == "wss://sig.example/ws"


def test_production_refuses_to_start_without_the_public_url(tmp_path):
    with pytest.raises(ConfigError, match="CHIMECAST_PUBLIC_URL must be set in production"):
        create_app(
            {
                "ENV": "production",
                "SECRET_KEY": "k" * 40,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
            }
        )


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Chime.Example", "https://chime.example"),
        ("https://chime.example:443/", "https://chime.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_public_url_is_read_as_an_origin(raw, origin):
    assert load_settings({"CHIMECAST_PUBLIC_URL": raw})["PUBLIC_URL"] == origin


@pytest.mark.parametrize(
    "raw", ["chime.example", "ftp://chime.example", "https://chime.example/app", "https://"]
)
def test_public_url_that_is_not_an_origin_is_refused(raw):
    with pytest.raises(ConfigError, match="CHIMECAST_PUBLIC_URL"):
        load_settings({"CHIMECAST_PUBLIC_URL": raw})
