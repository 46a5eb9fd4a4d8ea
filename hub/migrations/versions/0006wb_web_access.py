"""web access: partner users, operators, sign-in tokens, web sessions

Revision ID: 0006wb
Revises: 0005gt
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0006wb'
down_revision = '0005gt'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'partner_users',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('partner_id', BigId, nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('invited_by', sa.String(length=320), nullable=True),
        sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_signed_in_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_users_partner_id_partners')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_users')),
        sa.UniqueConstraint('email', name=op.f('uq_partner_users_email')),
    )
    op.create_index(op.f('ix_partner_users_partner_id'), 'partner_users', ['partner_id'], unique=False)
    op.create_table(
        'operators',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_signed_in_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
        sa.UniqueConstraint('email', name=op.f('uq_operators_email')),
    )
    op.create_table(
        'signin_tokens',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('principal', sa.String(length=16), nullable=False),
        sa.Column('principal_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_signin_tokens_token_hash')),
    )
    op.create_table(
        'web_sessions',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('principal', sa.String(length=16), nullable=False),
        sa.Column('principal_id', sa.BigInteger(), nullable=False),
        sa.Column('created_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
        sa.UniqueConstraint('id_hash', name=op.f('uq_web_sessions_id_hash')),
    )
    op.create_index('ix_web_sessions_principal', 'web_sessions', ['principal', 'principal_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_sessions_principal', table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_table('signin_tokens')
    op.drop_table('operators')
    op.drop_index(op.f('ix_partner_users_partner_id'), table_name='partner_users')
    op.drop_table('partner_users')
