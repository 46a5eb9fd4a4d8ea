"""partner lifecycle: attributes, segments, applications, credentials, onboarding steps

Revision ID: 0006lc
Revises: 0006cn
Create Date: 2026-12-07 06:48:40

The free-text ``partners.segment`` each partner had is kept as its ``segment_attribute`` (the
segment when no segment rule of the program file matches), so existing commission rules, owner
rules and template folders see the same segment after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store


revision = '0006lc'
down_revision = '0006cn'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('contact_name', sa.String(length=200), nullable=False),
    sa.Column('company_name', sa.String(length=200), nullable=False),
    sa.Column('company_domain', sa.String(length=253), nullable=True),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('company_size', sa.String(length=32), nullable=True),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('specialization', sa.String(length=64), nullable=True),
    sa.Column('partner_type', sa.String(length=32), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('duplicate_of', sa.Text(), nullable=True),
    sa.Column('recommended', sa.Boolean(), nullable=False),
    sa.Column('confirm_token_hash', sa.String(length=64), nullable=True),
    sa.Column('confirm_expires_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_applications_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('confirm_token_hash', name=op.f('uq_applications_confirm_token_hash'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_company_domain'), ['company_domain'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_status'), ['status'], unique=False)

    op.create_table('onboarding_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('track', sa.String(length=64), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('module', sa.String(length=128), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('due_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.String(length=320), nullable=True),
    sa.Column('reminded_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_onboarding_steps_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_onboarding_steps')),
    sa.UniqueConstraint('partner_id', 'step', name=op.f('uq_onboarding_steps_partner_id_step'))
    )
    with op.batch_alter_table('onboarding_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_onboarding_steps_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_onboarding_steps_partner_id'), ['partner_id'], unique=False)

    op.create_table('partner_credentials',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=True),
    sa.Column('granted_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by', sa.String(length=320), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('updated_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_credentials_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_credentials')),
    sa.UniqueConstraint('partner_id', 'kind', 'name', name=op.f('uq_partner_credentials_partner_id_kind_name'))
    )
    with op.batch_alter_table('partner_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_credentials_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_partner_credentials_partner_id'), ['partner_id'], unique=False)

    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('company_size', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('industry', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('specialization', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('partner_type', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('segment_attribute', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('onboarded_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE partners SET segment_attribute = segment")


def downgrade() -> None:
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('onboarded_at')
        batch_op.drop_column('segment_attribute')
        batch_op.drop_column('partner_type')
        batch_op.drop_column('specialization')
        batch_op.drop_column('industry')
        batch_op.drop_column('company_size')

    with op.batch_alter_table('partner_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_credentials_partner_id'))
        batch_op.drop_index(batch_op.f('ix_partner_credentials_expires_at'))

    op.drop_table('partner_credentials')
    with op.batch_alter_table('onboarding_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_onboarding_steps_partner_id'))
        batch_op.drop_index(batch_op.f('ix_onboarding_steps_due_at'))

    op.drop_table('onboarding_steps')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_status'))
        batch_op.drop_index(batch_op.f('ix_applications_email'))
        batch_op.drop_index(batch_op.f('ix_applications_company_domain'))

    op.drop_table('applications')
