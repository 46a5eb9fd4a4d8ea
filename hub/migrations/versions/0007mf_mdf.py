"""MDF / co-marketing funds: budgets (one counter row per partner, period and currency),
requests, claims and their proof-of-performance files (bytes in the database)

Revision ID: 0007mf
Revises: 0007hs
Create Date: 2026-12-07 15:45:00
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store


revision = '0007mf'
down_revision = '0007hs'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = hub.pipeline.store.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('mdf_budgets',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('used_minor', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_mdf_budgets_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mdf_budgets')),
    sa.UniqueConstraint('partner_id', 'period', 'currency', name=op.f('uq_mdf_budgets_partner_id_period_currency'))
    )
    with op.batch_alter_table('mdf_budgets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mdf_budgets_partner_id'), ['partner_id'], unique=False)

    op.create_table('mdf_requests',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('activity', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_minor', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.String(length=320), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('updated_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_mdf_requests_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mdf_requests')),
    sa.UniqueConstraint('partner_id', 'idempotency_key', name=op.f('uq_mdf_requests_partner_id_idempotency_key'))
    )
    with op.batch_alter_table('mdf_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mdf_requests_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index('ix_mdf_requests_status', ['status', 'id'], unique=False)

    op.create_table('mdf_claims',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('request_id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('submitted_by', sa.String(length=320), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', WHEN, nullable=True),
    sa.Column('ledger_entry_id', ID, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('updated_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_mdf_claims_ledger_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_mdf_claims_partner_id_partners')),
    sa.ForeignKeyConstraint(['request_id'], ['mdf_requests.id'], name=op.f('fk_mdf_claims_request_id_mdf_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mdf_claims')),
    sa.UniqueConstraint('partner_id', 'idempotency_key', name=op.f('uq_mdf_claims_partner_id_idempotency_key'))
    )
    with op.batch_alter_table('mdf_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mdf_claims_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mdf_claims_request_id'), ['request_id'], unique=False)
        batch_op.create_index('ix_mdf_claims_status', ['status', 'id'], unique=False)

    op.create_table('mdf_proofs',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('claim_id', ID, nullable=False),
    sa.Column('partner_id', ID, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=True),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('erased_at', WHEN, nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['mdf_claims.id'], name=op.f('fk_mdf_proofs_claim_id_mdf_claims')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_mdf_proofs_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mdf_proofs')),
    sa.UniqueConstraint('name', name=op.f('uq_mdf_proofs_name'))
    )
    with op.batch_alter_table('mdf_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mdf_proofs_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mdf_proofs_partner_id'), ['partner_id'], unique=False)


def downgrade() -> None:
    op.drop_table('mdf_proofs')
    op.drop_table('mdf_claims')
    op.drop_table('mdf_requests')
    op.drop_table('mdf_budgets')
