"""Janus credentials are derived, never stored: meetings.janus_nonce replaces janus_secret,
meeting_participants.janus_grant replaces janus_token

Revision ID: f1c07a3b9d52
Revises: d3a91f7c2e60
Create Date: 2026-12-04 23:55:00.000000

The plaintext room secrets and seat tokens are dropped, not converted: nothing may be
derived from them. An SFU meeting still open at the upgrade could then no longer be
moderated (its room's secret is gone), so it is ended (end_reason `sfu_upgrade`) and its
present and waiting seats leave with `meeting_ended`; no event is sent (the processes are
being replaced). Its Janus room and tokens live in the Janus node's memory until the room
is destroyed or the node restarts: restart the Janus nodes with the upgrade (README,
Production) so the old tokens stop working at once.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "f1c07a3b9d52"
down_revision = "d3a91f7c2e60"
branch_labels = None
depends_on = None


def _now():
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def upgrade():
    bind = op.get_bind()
    open_sfu = "SELECT id FROM meetings WHERE state = 'open' AND media = 'sfu'"
    bind.execute(
        sa.text(
            "UPDATE meeting_participants SET state = 'left', left_at = :now,"
            " left_reason = 'meeting_ended'"
            f" WHERE state IN ('admitted', 'waiting') AND meeting_id IN ({open_sfu})"
        ),
        {"now": _now()},
    )
    bind.execute(
        sa.text(
            "UPDATE meetings SET state = 'ended', ended_at = :now, end_reason = 'sfu_upgrade',"
            " screen_sharer_id = NULL WHERE state = 'open' AND media = 'sfu'"
        ),
        {"now": _now()},
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_column("janus_secret")
        batch_op.add_column(sa.Column("janus_nonce", sa.String(length=32), nullable=True))
    with op.batch_alter_table("meeting_participants", schema=None) as batch_op:
        batch_op.drop_column("janus_token")
        batch_op.add_column(sa.Column("janus_grant", sa.String(length=32), nullable=True))


def downgrade():
    # The derived credentials cannot be written back without the key: open SFU meetings
    # keep running on Janus but could no longer be moderated by the old code.
    with op.batch_alter_table("meeting_participants", schema=None) as batch_op:
        batch_op.drop_column("janus_grant")
        batch_op.add_column(sa.Column("janus_token", sa.String(length=64), nullable=True))
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_column("janus_nonce")
        batch_op.add_column(sa.Column("janus_secret", sa.String(length=64), nullable=True))
