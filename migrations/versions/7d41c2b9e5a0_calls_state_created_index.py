"""calls: index (state, created_at) replaces (state)

The ring timeout looks for ringing calls created before a cutoff; with an index on
`state` alone that read every ringing call's row, once per sweep and per call start.

Revision ID: 7d41c2b9e5a0
Revises: 63e4358a2d0c
Create Date: 2026-12-01 15:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7d41c2b9e5a0'
down_revision = '63e4358a2d0c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_state_created', ['state', 'created_at'], unique=False)
        batch_op.drop_index('ix_calls_state')


def downgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_state', ['state'], unique=False)
        batch_op.drop_index('ix_calls_state_created')
