"""Where the files that ship beside the code live: the migrations and the deployment files.

In a checkout they are the top-level `migrations/` and `deploy/` folders; a wheel carries
them as the packages `app.migrations` and `app.deploy` (setup.py maps one onto the other,
and an editable install maps them back). Either way they are found through the import
system, relative to the installed code, never through the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _folder(package: str, checkout_name: str) -> Path:
    try:
        return Path(str(files(package)))
    except ModuleNotFoundError:
        # An editable install made before setup.py mapped these folders (or a bare
        # PYTHONPATH checkout): the folder still sits beside `app/`.
        return _CHECKOUT / checkout_name


def migrations_dir() -> str:
    """The Alembic script directory (env.py, alembic.ini, versions/)."""
    return str(_folder("app.migrations", "migrations"))


def deploy_file(name: str) -> str:
    """Path of a shipped deployment file, e.g. `deploy_file("gunicorn.conf.py")`."""
    return str(_folder("app.deploy", "deploy") / name)
