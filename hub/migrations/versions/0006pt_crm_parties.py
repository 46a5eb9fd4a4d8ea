"""crm parties: the CRM's contacts and companies as hub records, with their deal associations

Revision ID: 0006pt
Revises: 0006wb
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0006pt'
down_revision = '0006wb'
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False)


def _stamp(name: str) -> sa.Column:
    return sa.Column(name, hub.pipeline.store.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        'crm_contacts',
        _id(),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('first_name', sa.String(length=200), nullable=True),
        sa.Column('last_name', sa.String(length=200), nullable=True),
        sa.Column('country', sa.String(length=64), nullable=True),
        sa.Column('lifecycle_stage', sa.String(length=64), nullable=True),
        sa.Column('company_ids', sa.JSON(), nullable=False),
        sa.Column('properties', sa.JSON(), nullable=False),
        sa.Column('property_versions', sa.JSON(), nullable=False),
        sa.Column('version_ms', sa.BigInteger(), nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        _stamp('created_at'),
        _stamp('updated_at'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_contacts')),
        sa.UniqueConstraint('source', 'external_id', name=op.f('uq_crm_contacts_source_external_id')),
    )
    with op.batch_alter_table('crm_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_contacts_email'), ['email'], unique=False)
    op.create_table(
        'crm_companies',
        _id(),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('domain', sa.String(length=253), nullable=True),
        sa.Column('country', sa.String(length=64), nullable=True),
        sa.Column('region', sa.String(length=64), nullable=True),
        sa.Column('industry', sa.String(length=128), nullable=True),
        sa.Column('lifecycle_stage', sa.String(length=64), nullable=True),
        sa.Column('properties', sa.JSON(), nullable=False),
        sa.Column('property_versions', sa.JSON(), nullable=False),
        sa.Column('version_ms', sa.BigInteger(), nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        _stamp('created_at'),
        _stamp('updated_at'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_companies')),
        sa.UniqueConstraint('source', 'external_id', name=op.f('uq_crm_companies_source_external_id')),
    )
    with op.batch_alter_table('crm_companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_companies_domain'), ['domain'], unique=False)
    op.create_table(
        'crm_deal_parties',
        _id(),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('deal_id', sa.String(length=128), nullable=False),
        sa.Column('party_type', sa.String(length=16), nullable=False),
        sa.Column('party_id', sa.String(length=128), nullable=False),
        _stamp('created_at'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_deal_parties')),
        sa.UniqueConstraint(
            'source', 'deal_id', 'party_type', 'party_id',
            name=op.f('uq_crm_deal_parties_source_deal_id_party_type_party_id'),
        ),
    )
    with op.batch_alter_table('crm_deal_parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_deal_parties_party_id'), ['party_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('crm_deal_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_deal_parties_party_id'))
    op.drop_table('crm_deal_parties')
    with op.batch_alter_table('crm_companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_companies_domain'))
    op.drop_table('crm_companies')
    with op.batch_alter_table('crm_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_contacts_email'))
    op.drop_table('crm_contacts')
