"""Headers every response carries, whatever produced it (a view, an error handler, a 404)."""

from __future__ import annotations

from flask import Flask, Response

# Tokens, session lists, TURN credentials and call records are in JSON bodies: no cache,
# shared or private, may keep any of it; and no browser may sniff a JSON body into HTML.
ALWAYS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def add_security_headers(response: Response) -> Response:
    """Set the `ALWAYS` headers on `response`, replacing any the view set."""
    for name, value in ALWAYS.items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
