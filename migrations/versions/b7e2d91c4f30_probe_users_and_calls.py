"""users.is_probe and calls.probe: monitoring calls kept out of stats, metrics and webhooks

`flask users create --probe` marks an account as a probe; a call it starts is a probe
call (`chimecast-probe`).

Revision ID: b7e2d91c4f30
Revises: b7e2d4c19f3a
Create Date: 2026-12-10 12:00:00.000000

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "b7e2d91c4f30"
down_revision = "b7e2d4c19f3a"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_probe", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("probe", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("probe")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_probe")
