"""Alembic revisions; alembic reads every file here but this one."""
