"""meetings: who shares a screen (one sharer at a time, issue 19)

Revision ID: c3a9e5d2b817
Revises: b7e2d4f1a9c3
Create Date: 2026-12-04 21:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a9e5d2b817'
down_revision = 'b7e2d4f1a9c3'
branch_labels = None
depends_on = None


def upgrade():
    # No foreign key: a plain ADD COLUMN (no SQLite table rebuild). The sharer leaves the
    # meeting before the account goes (users.service.delete_user), which clears it.
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('screen_sharer_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_column('screen_sharer_id')
