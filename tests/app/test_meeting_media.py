"""The media path of a meeting (mesh or sfu) without a Janus node: everything as before."""

from __future__ import annotations

import pytest

from app.config import ConfigError, finalize, load_settings
from tests.app.helpers import create, documented_max_participants


def test_without_janus_meetings_are_mesh_and_say_so(client, people):
    (host,) = people("host")
    response = client.post("/meetings", json={"max_participants": 12}, headers=host)
    assert response.status_code == 201 and response.json["meeting"]["media"] == "mesh"
    meeting_id, _ = create(client, host, media="auto")
    assert client.get(f"/meetings/{meeting_id}", headers=host).json["media"] == "mesh"
    assert client.get(f"/meetings/{meeting_id}", headers=host).json.get("sfu") is None


def test_an_sfu_meeting_without_janus_is_refused_with_409(client, people):
    (host,) = people("host")
    response = client.post("/meetings", json={"media": "sfu"}, headers=host)
    assert response.status_code == 409
    assert response.json["error"] == "sfu_not_configured"
    assert client.get("/meetings", headers=host).json["total"] == 0


def test_without_janus_a_meeting_larger_than_the_mesh_is_refused(client, people):
    (host,) = people("host")
    response = client.post("/meetings", json={"max_participants": 13}, headers=host)
    assert response.status_code == 400 and "between 2 and 12" in response.json["message"]
    assert documented_max_participants(client) == 12


def test_an_unknown_media_path_is_a_validation_error(client, people):
    (host,) = people("host")
    response = client.post("/meetings", json={"media": "p2p"}, headers=host)
    assert response.status_code == 400


def test_janus_nodes_are_read_from_one_setting_with_the_admin_secret_in_the_admin_url():
    config = load_settings(
        {
            "CHIMECAST_JANUS_URLS": "https://sfu1.example/janus|http://:s3cret@10.0.0.5:7088/admin,"
            " http://10.0.0.6:8088/janus/|http://x:other@10.0.0.6:7088/admin"
        }
    )
    assert config["JANUS_URLS"] == [
        {
            "api": "https://sfu1.example/janus",
            "admin": "http://10.0.0.5:7088/admin",
            "admin_secret": "s3cret",
        },
        {
            "api": "http://10.0.0.6:8088/janus",
            "admin": "http://10.0.0.6:7088/admin",
            "admin_secret": "other",
        },
    ]


@pytest.mark.parametrize(
    "value",
    [
        "https://sfu1.example/janus",
        "https://sfu1.example/janus|http://10.0.0.5:7088/admin",
        "ftp://sfu1.example/janus|http://:s@10.0.0.5:7088/admin",
    ],
)
def test_a_janus_node_without_an_admin_url_and_secret_is_a_config_error(value):
    with pytest.raises(ConfigError, match="CHIMECAST_JANUS_URLS"):
        load_settings({"CHIMECAST_JANUS_URLS": value})


def test_an_sfu_without_a_shared_secret_key_is_a_config_error(tmp_path):
    """The Janus credentials are derived from CHIMECAST_SECRET_KEY: a random key per process
    would give the web app and the daemon different ones."""
    node = "https://sfu1.example/janus|http://:s@10.0.0.5:7088/admin"
    config = load_settings({"CHIMECAST_ENV": "development", "CHIMECAST_JANUS_URLS": node})
    with pytest.raises(ConfigError, match="CHIMECAST_SECRET_KEY"):
        finalize(config, str(tmp_path))
    finalize({**config, "SECRET_KEY": "k" * 32}, str(tmp_path))


def test_the_page_may_connect_to_the_janus_nodes_and_loads_janus_js_from_this_origin(
    make_app, tmp_path
):
    nodes = load_settings(
        {"CHIMECAST_JANUS_URLS": "https://sfu1.example/janus|http://:s@10.0.0.5:7088/admin"}
    )["JANUS_URLS"]
    library = tmp_path / "janus.js"
    library.write_text("var Janus = {};\n")
    client = make_app(JANUS_URLS=nodes, JANUS_JS=str(library)).test_client()
    policy = client.get("/").headers["Content-Security-Policy"]
    connect = next(p for p in policy.split("; ") if p.startswith("connect-src"))
    assert "https://sfu1.example" in connect.split() and "10.0.0.5" not in policy
    response = client.get("/vendor/janus.js")
    assert response.status_code == 200 and response.text == "var Janus = {};\n"
    assert response.mimetype == "text/javascript"
    missing = make_app(JANUS_JS=str(tmp_path / "absent.js")).test_client()
    assert missing.get("/vendor/janus.js").status_code == 404
    assert "sfu1.example" not in missing.get("/").headers["Content-Security-Policy"]
