"""money gates: payout account changes, payout details, fraud holds

Revision ID: 0005gt
Revises: 0005mn
Create Date: 2026-12-02 16:45:00
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0005gt'
down_revision = '0005mn'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payout_account_changed_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('payout_fingerprints', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('payout_email', sa.String(length=320), nullable=True))
        batch_op.create_index(batch_op.f('ix_partners_payout_email'), ['payout_email'], unique=False)
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('held_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('hold_released_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('hold_released_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_column('hold_released_at')
        batch_op.drop_column('hold_released_by')
        batch_op.drop_column('held_at')
        batch_op.drop_column('hold_reason')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partners_payout_email'))
        batch_op.drop_column('payout_email')
        batch_op.drop_column('payout_fingerprints')
        batch_op.drop_column('payout_account_changed_at')
