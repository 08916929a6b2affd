"""The OpenAPI 3.1 document, generated from the URL map and the `@endpoint` declarations."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api import CONFIG_MAXIMUM, MAX_ID, Declaration, ErrorOut, PlainText, declarations

REF_TEMPLATE = "#/components/schemas/{model}"
CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")
PARAM_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    None: {"type": "string"},
}


def _state_config_maxima(node: Any, config: Any) -> None:
    """Replace each CONFIG_MAXIMUM marker with the `maximum` its setting has in `config`
    (on the integer branch of an optional field), so the document says what is enforced."""
    if isinstance(node, list):
        for item in node:
            _state_config_maxima(item, config)
        return
    if not isinstance(node, dict):
        return
    setting = node.pop(CONFIG_MAXIMUM, None)
    if setting is not None:
        branches = [b for b in node.get("anyOf", [node]) if b.get("type") == "integer"]
        for branch in branches:
            branch["maximum"] = config[setting]
    for value in node.values():
        _state_config_maxima(value, config)


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for match in CONVERTER.finditer(rule):
        schema = PARAM_SCHEMAS.get(match["conv"], {"type": "string"})
        params.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule), params


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def responses_of(decl: Declaration) -> dict[int, Any]:
    """The declared responses plus the errors the `@endpoint` machinery itself produces."""
    implied: dict[int, Any] = {}
    if decl.body is not None:
        # invalid or unknown fields / bad JSON, oversized body, wrong content type
        implied.update({400: ErrorOut, 413: ErrorOut, 415: ErrorOut})
    if decl.query is not None:
        implied[400] = ErrorOut
    if decl.auth:
        implied[401] = ErrorOut
    return {**implied, **decl.responses}


def _response(model: Any) -> dict[str, Any]:
    if model is None:
        return {"description": "No content"}
    if model is PlainText:
        return {"description": "Text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "description": model.__name__,
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}
        },
    }


def build_openapi(app: Flask) -> dict[str, Any]:
    found = declarations(app)
    models: set[type[BaseModel]] = set()
    for _path, _method, decl in found:
        models.update(m for m in responses_of(decl).values() if m not in (None, PlainText))
        if decl.body is not None:
            models.add(decl.body)
    ordered = sorted(models, key=lambda m: m.__name__)
    keys = [
        (m, "validation" if m in {d.body for *_, d in found} else "serialization") for m in ordered
    ]
    _refs, definitions = models_json_schema(keys, ref_template=REF_TEMPLATE)

    def ref(model: type[BaseModel]) -> dict[str, str]:
        return {"$ref": REF_TEMPLATE.format(model=model.__name__)}

    paths: dict[str, dict[str, Any]] = {}
    for rule, method, decl in found:
        path, params = _path_and_params(rule)
        operation: dict[str, Any] = {
            "summary": decl.summary,
            "tags": [decl.tag] if decl.tag else [],
        }
        if decl.query is not None:
            params = params + _query_params(decl.query)
        if params:
            operation["parameters"] = params
        if decl.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(decl.body)}},
            }
        operation["responses"] = {
            str(status): _response(model) for status, model in sorted(responses_of(decl).items())
        }
        if decl.auth:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[method.lower()] = operation

    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "ChimeCast",
            "version": "1",
            "description": "Accounts, sessions and call records.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    _state_config_maxima(document, app.config)
    return document
