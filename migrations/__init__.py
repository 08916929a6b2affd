"""Alembic migrations; shipped inside the wheel as `app.migrations` (see setup.py)."""
