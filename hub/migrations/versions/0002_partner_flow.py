"""partner flow

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:00:06.996168
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('echo_fingerprints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connector', sa.String(length=32), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=128), nullable=False),
    sa.Column('field', sa.String(length=128), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_echo_fingerprints'))
    )
    with op.batch_alter_table('echo_fingerprints', schema=None) as batch_op:
        batch_op.create_index('ix_echo_fingerprints_object', ['connector', 'object_type', 'object_id'], unique=False)

    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('tracking_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_deals_tracking_id'), ['tracking_id'], unique=False)

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reverses_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('expected_payment_date', sa.Date(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ledger_entries_reverses_id_ledger_entries'), 'ledger_entries', ['reverses_id'], ['id'])

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('crm', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('crm_deal_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('crm_contact_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('owner_id', sa.String(length=128), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_column('owner_id')
        batch_op.drop_column('crm_contact_id')
        batch_op.drop_column('crm_deal_id')
        batch_op.drop_column('crm')
        batch_op.drop_column('status_reason')

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ledger_entries_reverses_id_ledger_entries'), type_='foreignkey')
        batch_op.drop_column('expected_payment_date')
        batch_op.drop_column('reverses_id')

    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deals_tracking_id'))
        batch_op.drop_column('tracking_id')
        batch_op.drop_column('status')

    with op.batch_alter_table('echo_fingerprints', schema=None) as batch_op:
        batch_op.drop_index('ix_echo_fingerprints_object')

    op.drop_table('echo_fingerprints')
