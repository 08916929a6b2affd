"""calls: indexes (caller_id, state) and (callee_id, state) for the live calls of a user

A call start asks for the ringing and active calls around the callee. Written as one
`state IN (...) AND (caller_id = ? OR callee_id = ?)`, SQLite read every live call in the
system through the state index (98 us with 2,261 ringing calls, growing with load); as a
UNION ALL of one lookup per side on these indexes it reads only that user's (9 us).

Revision ID: a4f09c3e8b21
Revises: 7d41c2b9e5a0
Create Date: 2026-12-01 21:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a4f09c3e8b21'
down_revision = '7d41c2b9e5a0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_caller_state', ['caller_id', 'state'], unique=False)
        batch_op.create_index('ix_calls_callee_state', ['callee_id', 'state'], unique=False)


def downgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_callee_state')
        batch_op.drop_index('ix_calls_caller_state')
