"""revenue facts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:32:44.935903
"""

from alembic import op
import sqlalchemy as sa

import hub.models


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
    sa.Column('period_start', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('period_end', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('occurred_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('processed_at', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_revenue_facts_deal_id_deals')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_revenue_facts_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revenue_facts')),
    sa.UniqueConstraint('natural_key', name=op.f('uq_revenue_facts_natural_key'))
    )
    with op.batch_alter_table('revenue_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revenue_facts_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revenue_facts_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_revenue_facts_revenue_key'), ['revenue_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('revenue_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revenue_facts_revenue_key'))
        batch_op.drop_index(batch_op.f('ix_revenue_facts_partner_id'))
        batch_op.drop_index(batch_op.f('ix_revenue_facts_customer_id'))

    op.drop_table('revenue_facts')
