"""One JSON error shape for the whole API: {"error": "<stable_code>", "message": "<text>"}."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DataError, InterfaceError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.metrics import API_ERRORS

log = logging.getLogger(__name__)

# Stable codes for the HTTP errors Werkzeug raises itself.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


class ApiError(Exception):
    """Raise from anywhere in a request to answer with the error shape.

    `headers` carries extras such as Retry-After; `body` extras are merged into the JSON
    (e.g. the call record of a busy call).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        body: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.body = body or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra
) -> Response:
    API_ERRORS.labels(code).inc()
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.body)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        db.session.rollback()
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return error_response(status, code, exc.description or exc.name, headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(exc: Exception) -> Response:
        # The pool pre-pings connections, so once the database is back the next request
        # gets a fresh connection: no restart needed.
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.close()
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return error_response(
            503, "database_unavailable", "The database is unavailable; retry shortly.",
            {"Retry-After": "1"},
        )  # fmt: skip

    @app.errorhandler(DataError)
    def _data_refused(exc: DataError) -> Response:
        # A value the database would not take (text with NUL, a number out of range) that
        # validation let through: the client's input, so a 400, never a 500. Validation
        # (app/api.py) is the rule; this is the net under it, and it logs so the gap is seen.
        db.session.rollback()
        log.warning("database refused a value: %s", exc.orig.__class__.__name__)
        return error_response(400, "invalid_request", "A value in the request is not valid.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")
