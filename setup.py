"""Packaging: metadata, dependencies and package data live in setup.cfg.

The one thing setup.cfg cannot say is "the packages `find:` discovers, plus two more": the
top-level `migrations/` and `deploy/` folders ship inside the wheel as `app.migrations` and
`app.deploy` (mapped in setup.cfg's `package_dir`), so an installed ChimeCast finds its
migrations and its gunicorn config through the `app` package, never the working directory.
"""

from setuptools import find_packages, setup

SHIPPED_FOLDERS = ["app.migrations", "app.migrations.versions", "app.deploy"]

setup(
    packages=[
        *find_packages(include=["app", "app.*", "signaling", "signaling.*"]),
        *SHIPPED_FOLDERS,
    ]
)
