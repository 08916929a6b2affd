"""Declaring JSON endpoints: request validation with pydantic, response shaping, OpenAPI.

`@endpoint(...)` wraps a view so that

* the JSON body (and query string) is parsed into a pydantic model passed as `body=`/`query=`;
  malformed JSON, wrong types, missing or unknown fields become 400s with one error shape;
* a returned pydantic model (or `(model, status)`) is serialised as JSON;
* the declaration is kept on the view, and `build_openapi(app)` turns the URL map plus these
  declarations into the OpenAPI document, so the spec is generated from the code.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError

from app.errors import ApiError


class Input(BaseModel):
    """Base for request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base for query strings: values arrive as text, so types are coerced; extras refused."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str
    message: str


class PlainText:
    """Marker for `responses`: a text/plain body rather than a JSON model."""


@dataclass
class Declaration:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | type[PlainText] | None] = field(default_factory=dict)
    auth: bool = True
    tag: str = ""


# The largest id a row can have: primary keys are `integer`, which PostgreSQL keeps in 32
# bits. Larger ids cannot name anything, and asking the database about them fails
# (PostgreSQL: out of range; SQLite: OverflowError beyond 64 bits), so they are refused first.
MAX_ID = 2**31 - 1

PYDANTIC_CODES = {"missing": "missing_field", "extra_forbidden": "unknown_field"}


def _validation_error(exc: ValidationError, where: str) -> ApiError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or where
    code = PYDANTIC_CODES.get(first["type"], "invalid_field")
    return ApiError(400, code, f"{location}: {first['msg']}")


def _parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, "body") from exc


def _parse_query(model: type[BaseModel]) -> BaseModel:
    args = {key: request.args.get(key) for key in request.args}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise _validation_error(exc, "query") from exc


def _to_response(result: Any) -> Response | Any:
    status, headers = 200, None
    if isinstance(result, tuple):
        result, status, *rest = result
        headers = rest[0] if rest else None
    if isinstance(result, BaseModel):
        response = jsonify(result.model_dump(mode="json"))
    elif result is None:
        response = Response(status=status)
    else:
        return result
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def endpoint(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | type[PlainText] | None] | None = None,
    auth: bool = True,
    tag: str = "",
) -> Callable:
    """Declare a JSON endpoint; see the module docstring. `auth` adds bearer login."""
    declaration = Declaration(summary, body, query, dict(responses or {}), auth, tag)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if declaration.auth:
                from app.auth.current import require_principal

                require_principal()
            if any(isinstance(v, int) and v > MAX_ID for v in kwargs.values()):
                raise ApiError(404, "not_found", "No such resource.")
            if declaration.body is not None:
                kwargs["body"] = _parse_body(declaration.body)
            if declaration.query is not None:
                kwargs["query"] = _parse_query(declaration.query)
            return _to_response(view(*args, **kwargs))

        wrapper.api_declaration = declaration  # type: ignore[attr-defined]
        return wrapper

    return decorate


def declarations(app: Flask) -> list[tuple[str, str, Declaration]]:
    """(path, method, declaration) for every declared route, sorted by path."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        declaration = getattr(view, "api_declaration", None)
        if declaration is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, declaration))
    return sorted(found, key=lambda item: (item[0], item[1]))
