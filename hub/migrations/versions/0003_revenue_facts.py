"""revenue facts and partner contact state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:35:28.389391
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('revenue_facts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('natural_key', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('recurrence', sa.String(length=16), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=True),
    sa.Column('revenue_key', sa.String(length=255), nullable=True),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('deal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('product', sa.String(length=128), nullable=True),
    sa.Column('period_start', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('period_end', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('occurred_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('processed_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_revenue_facts_deal_id_deals')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_revenue_facts_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revenue_facts')),
    sa.UniqueConstraint('natural_key', name=op.f('uq_revenue_facts_natural_key'))
    )
    with op.batch_alter_table('revenue_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revenue_facts_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revenue_facts_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revenue_facts_revenue_key'), ['revenue_key'], unique=False)

    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('stripe_account_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('payouts_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('email_status', sa.String(length=16), nullable=False, server_default='ok'))
        batch_op.add_column(sa.Column('flag_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('flagged_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_activity_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_partners_stripe_account_id'), ['stripe_account_id'])



def downgrade() -> None:
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_partners_stripe_account_id'), type_='unique')
        batch_op.drop_column('last_activity_at')
        batch_op.drop_column('flagged_at')
        batch_op.drop_column('flag_reason')
        batch_op.drop_column('email_status')
        batch_op.drop_column('payouts_enabled')
        batch_op.drop_column('stripe_account_id')
        batch_op.drop_column('country')
        batch_op.drop_column('locale')

    with op.batch_alter_table('revenue_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revenue_facts_revenue_key'))
        batch_op.drop_index(batch_op.f('ix_revenue_facts_partner_id'))
        batch_op.drop_index(batch_op.f('ix_revenue_facts_customer_id'))

    op.drop_table('revenue_facts')
