"""The OpenAPI document declares every API route the app really serves, and nothing else."""

from __future__ import annotations

import re

from app.openapi import build_openapi

# Not part of the JSON API: static files (ours and the vendored Janus library) and the web
# client's HTML page(s).
UNDOCUMENTED_ENDPOINTS = re.compile(r"^(static|web\.index|web\.janus_js)$")


def served_operations(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if UNDOCUMENTED_ENDPOINTS.match(rule.endpoint):
            continue
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((method.lower(), path))
    return found


def declared_operations(spec) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in spec["paths"].items() for method in ops}


def test_every_route_is_declared_in_the_openapi_document(app, client):
    spec = client.get("/openapi.json").json
    served, declared = served_operations(app), declared_operations(spec)
    assert served - declared == set(), "routes missing from /openapi.json"
    assert declared - served == set(), "documented operations the app does not serve"


def test_every_operation_documents_its_responses_and_auth(client):
    spec = client.get("/openapi.json").json
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["summary"], where
            assert operation["responses"], where
            if operation.get("security"):
                assert "401" in operation["responses"], where
            if "requestBody" in operation:
                assert "400" in operation["responses"], where


def test_spec_is_built_from_the_routes_not_a_copy(app):
    """Adding a declared route to an app makes it appear in the document."""
    from app.api import endpoint

    @app.get("/_probe")
    @endpoint("probe", responses={204: None}, auth=False)
    def _probe():
        return None, 204

    with app.app_context():
        spec = build_openapi(app)
    assert spec["paths"]["/_probe"]["get"]["summary"] == "probe"
