"""partner tier history

Revision ID: 0005mn
Revises: 0004pg
Create Date: 2026-12-02 16:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0005mn'
down_revision = '0004pg'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partner_tier_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tier_before', sa.String(length=64), nullable=True),
    sa.Column('tier', sa.String(length=64), nullable=True),
    sa.Column('effective_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_tier_changes_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_tier_changes'))
    )
    with op.batch_alter_table('partner_tier_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_tier_changes_partner_id'), ['partner_id'], unique=False)
    # history starts now: each partner's current tier, as in force since the partner was created
    op.execute(
        "INSERT INTO partner_tier_changes (partner_id, tier_before, tier, effective_at, actor, reason) "
        "SELECT id, NULL, tier, created_at, 'migration', 'tier when the history began' "
        "FROM partners WHERE tier IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('partner_tier_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_tier_changes_partner_id'))

    op.drop_table('partner_tier_changes')
