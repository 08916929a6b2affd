"""Deployment files; shipped inside the wheel as `app.deploy` (see setup.py)."""
