"""Declaring JSON endpoints: request validation with pydantic, response shaping, OpenAPI.

`@endpoint(...)` wraps a view so that

* the JSON body (and query string) is parsed into a pydantic model passed as `body=`/`query=`;
  malformed JSON, wrong types, missing or unknown fields become 400s with one error shape;
* every string the request brings (body, path, query, headers) is checked first: a NUL, a
  lone surrogate or JSON nested beyond MAX_JSON_DEPTH is 400 `invalid_request`, so no
  database ever sees text it would refuse;
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

from app.auth.current import require_principal
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

# A field's `json_schema_extra` key naming the app setting that bounds it from above: the
# service enforces the setting, and the OpenAPI document states its value.
CONFIG_MAXIMUM = "x-config-maximum"

PYDANTIC_CODES = {"missing": "missing_field", "extra_forbidden": "unknown_field"}

# How deep a request body's arrays and objects may nest. No endpoint takes more than one
# level; the bound is explicit so that depth is refused by a rule, not by the parser
# running out of stack (1,500 levels fit in the 16 KiB body limit).
MAX_JSON_DEPTH = 32


def _bad_text(text: str) -> bool:
    """True for text no database may be handed: a NUL (PostgreSQL refuses it, SQLite stores
    it and truncates it in C string APIs) or a lone surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _invalid_text(where: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{where}: text must be UTF-8 without NUL characters.")


def check_text(value: Any, where: str) -> None:
    """ApiError 400 `invalid_request` if any string in `value` (a parsed JSON document, keys
    included) is bad text (see `_bad_text`) or it nests deeper than MAX_JSON_DEPTH.

    Iterative, so no input can exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _bad_text(item):
                raise _invalid_text(where)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ApiError(
                    400, "invalid_request", f"{where}: nested deeper than {MAX_JSON_DEPTH}."
                )
            children = list(item.items()) if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, tuple):  # a dict's (key, value) pair: same depth
            pending.extend((part, depth) for part in item)


def check_request_text() -> None:
    """ApiError 400 `invalid_request` if the path, the query string or any header carries
    bad text: every string a request brings, besides its body, is looked at here, before
    any of it can reach the database (a username in the path, a search term, the
    User-Agent and X-Forwarded-For stored in the session log)."""
    if _bad_text(request.path) or any(
        isinstance(value, str) and _bad_text(value) for value in (request.view_args or {}).values()
    ):
        raise _invalid_text("path")
    for key, value in request.args.items(multi=True):
        if _bad_text(key) or _bad_text(value):
            raise _invalid_text("query")
    for name, value in request.headers.items():
        if _bad_text(value):
            raise _invalid_text(f"header {name}")


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
    except RecursionError as exc:  # deeper than the parser's stack; MAX_JSON_DEPTH is less
        raise ApiError(
            400, "invalid_request", f"body: nested deeper than {MAX_JSON_DEPTH}."
        ) from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    check_text(data, "body")
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
                require_principal()
            check_request_text()
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
