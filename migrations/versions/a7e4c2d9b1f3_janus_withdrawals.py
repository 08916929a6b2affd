"""janus_withdrawals: a seat's Janus token still to be taken back, retried until it is

Revision ID: a7e4c2d9b1f3
Revises: f1c07a3b9d52
Create Date: 2026-12-05 01:00:00.000000

Only nonces are kept (the token and the room secret are derived from them with the key).
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "a7e4c2d9b1f3"
down_revision = "f1c07a3b9d52"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "janus_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("room", sa.BigInteger(), nullable=False),
        sa.Column("room_nonce", sa.String(length=32), nullable=False),
        sa.Column("seat_id", sa.Integer(), nullable=False),
        sa.Column("grant", sa.String(length=32), nullable=False),
        sa.Column("feed", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_janus_withdrawals_next_attempt_at", "janus_withdrawals", ["next_attempt_at"]
    )


def downgrade():
    op.drop_index("ix_janus_withdrawals_next_attempt_at", table_name="janus_withdrawals")
    op.drop_table("janus_withdrawals")
