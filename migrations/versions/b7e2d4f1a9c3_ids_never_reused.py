"""users, sessions, calls, meetings: ids are never reused (SQLite AUTOINCREMENT)

Without AUTOINCREMENT SQLite gives a new row max(id) + 1, so deleting the newest account
handed its user id (and its session's id) to the next registration: the daemon's meeting
rosters and its revoked-session list then took the new account for the old one.

SQLite can only declare AUTOINCREMENT when a table is created, so batch mode recreates the
four tables (migrations/env.py turns foreign keys off around the run, or dropping `users`
would cascade into sessions and calls). Each table's sequence starts above the largest id
it has held that is still on record, so ids deleted before this migration are not handed
out again either where they left a trace (session ids in calls, the session log and
meeting seats). PostgreSQL's sequences never reuse ids: nothing to do there.

Revision ID: b7e2d4f1a9c3
Revises: b7e2d91c4f30
Create Date: 2026-12-04 17:40:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "b7e2d4f1a9c3"
down_revision = "b7e2d91c4f30"
branch_labels = None
depends_on = None

TABLES = ("users", "sessions", "calls", "meetings")
# Columns without a foreign key that keep ids of rows that may be gone.
TRACES = {
    "sessions": (
        ("calls", "caller_session_id"),
        ("calls", "callee_session_id"),
        ("auth_events", "session_id"),
        ("meeting_participants", "session_id"),
    ),
}


def _recreate(autoincrement: bool) -> None:
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def _seed_sequences() -> None:
    bind = op.get_bind()
    for table in TABLES:
        sources = ((table, "id"), *TRACES.get(table, ()))
        highest = max(
            bind.execute(sa.text(f"SELECT COALESCE(MAX({column}), 0) FROM {source}")).scalar()
            for source, column in sources
        )
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :seq)"),
            {"t": table, "seq": highest},
        )


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    _recreate(True)
    _seed_sequences()


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    _recreate(False)
