"""Console scripts of an installed ChimeCast that need no checkout and no `FLASK_APP`.

`chimecast ...` is the `flask` command bound to the app factory (`chimecast db upgrade`,
`chimecast users create alice`), so it never imports an `app` or `wsgi.py` that happens to
sit in the working directory. `chimecast-web` is gunicorn with the shipped
deploy/gunicorn.conf.py, whatever directory it starts in.
"""

from __future__ import annotations

import os
import sys

from app import create_app, shipped


def main() -> None:
    """`chimecast <command>`: the admin and database commands (`flask --app app ...`)."""
    from flask.cli import FlaskGroup

    FlaskGroup(name="chimecast", create_app=create_app, help=main.__doc__)(prog_name="chimecast")


def web(argv: list[str] | None = None) -> None:
    """`chimecast-web [gunicorn options]`: serve the web app with the shipped gunicorn config.

    Options given here override the config's (e.g. `--bind 0.0.0.0:$PORT`). Runs gunicorn in
    a fresh interpreter: this one has imported the app, and with it prometheus_client, which
    picks single- or multi-process metrics at import; the config must set
    PROMETHEUS_MULTIPROC_DIR first or each worker would count on its own.
    """
    options = sys.argv[1:] if argv is None else argv
    config = shipped.deploy_file("gunicorn.conf.py")
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", config, *options])
