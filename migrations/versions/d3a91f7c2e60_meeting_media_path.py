"""meetings.media (mesh or sfu) and the Janus room of an SFU meeting; seats' Janus tokens and feeds

Revision ID: d3a91f7c2e60
Revises: c3a9e5d2b817
Create Date: 2026-12-04 21:00:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "d3a91f7c2e60"
down_revision = "c3a9e5d2b817"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("media", sa.String(length=8), server_default="mesh", nullable=False)
        )
        batch_op.add_column(sa.Column("janus_node", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("janus_room", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("janus_secret", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_meetings_janus_node"), ["janus_node"], unique=False)
    with op.batch_alter_table("meeting_participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("janus_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("janus_feed", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("meeting_participants", schema=None) as batch_op:
        batch_op.drop_column("janus_feed")
        batch_op.drop_column("janus_token")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_janus_node"))
        batch_op.drop_column("janus_secret")
        batch_op.drop_column("janus_room")
        batch_op.drop_column("janus_node")
        batch_op.drop_column("media")
