"""Several Janus nodes: new rooms go to the least loaded healthy node; a dead node is
noticed, gets no new rooms, and shows in /readyz (degraded, not down) and /metrics."""

from __future__ import annotations

import time

import pytest

from app.models import Meeting
from tests.app.helpers import act, create, rows

pytestmark = pytest.mark.timeout(60)


def _node_of(app, meeting_id: int) -> str:
    return rows(app, Meeting, id=meeting_id)[0]["janus_node"]


def test_rooms_go_to_the_least_loaded_node(sfu_app, janus_nodes, users):
    first, second = janus_nodes(), janus_nodes()
    app = sfu_app(first, second)
    client = app.test_client()
    (host,) = users(app, "host")
    placed = [_node_of(app, create(client, host, media="sfu")[0]) for _ in range(4)]
    assert placed == [first.api, second.api, first.api, second.api]
    ended = [m["id"] for m in client.get("/meetings", headers=host).json["items"]]
    # Ending two meetings on the first node makes it the least loaded again.
    for meeting_id in ended:
        if _node_of(app, meeting_id) == first.api:
            act(client, host, meeting_id, "end")
    assert _node_of(app, create(client, host, media="sfu")[0]) == first.api
    assert _node_of(app, create(client, host, media="sfu")[0]) == first.api


def test_a_dead_node_gets_no_new_rooms_and_readyz_says_degraded(sfu_app, janus_nodes, users):
    first, second = janus_nodes(), janus_nodes()
    app = sfu_app(first, second)
    client = app.test_client()
    (host,) = users(app, "host")
    ready = client.get("/readyz").json
    assert ready["status"] == "ready"
    assert [(n["url"], n["up"]) for n in ready["janus"]] == [(first.api, True), (second.api, True)]
    assert _node_of(app, create(client, host, media="sfu")[0]) == first.api
    assert _node_of(app, create(client, host, media="sfu")[0]) == second.api
    first.kill()  # and never restarted
    time.sleep(0.6)  # past JANUS_HEALTH_INTERVAL: the next check asks again
    response = client.get("/readyz")
    assert response.status_code == 200, "a dead SFU node degrades the service, never stops it"
    assert response.json["status"] == "degraded"
    assert [(n["url"], n["up"]) for n in response.json["janus"]] == [
        (first.api, False),
        (second.api, True),
    ]
    # Both nodes hold one room; the dead one would come first, but it gets none.
    placed = [_node_of(app, create(client, host, media="sfu")[0]) for _ in range(3)]
    assert placed == [second.api] * 3
    metrics = client.get("/metrics").text
    assert f'chimecast_janus_node_up{{node="{first.api}"}} 0.0' in metrics
    assert f'chimecast_janus_node_up{{node="{second.api}"}} 1.0' in metrics
    assert f'chimecast_janus_rooms{{node="{second.api}"}} 4.0' in metrics
    # Mesh meetings do not need Janus at all.
    assert create(client, host, media="mesh")[0]


def test_with_every_node_dead_sfu_meetings_are_refused_and_mesh_still_works(
    sfu_app, janus_nodes, users
):
    node = janus_nodes()
    app = sfu_app(node)
    client = app.test_client()
    (host,) = users(app, "host")
    node.kill()
    response = client.post("/meetings", json={"media": "sfu"}, headers=host)
    assert response.status_code == 503 and response.json["error"] == "sfu_unavailable"
    assert client.get("/meetings", headers=host).json["total"] == 0
    assert create(client, host, max_participants=6)[0]
    assert client.get("/readyz").json["status"] == "degraded"
