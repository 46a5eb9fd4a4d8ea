"""sync bases and field history (the owner rule)

Revision ID: 0006wr
Revises: 0006pt
Create Date: 2026-12-07 07:00:00
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0006wr'
down_revision = '0006pt'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sync_bases',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('target', sa.String(length=32), nullable=False),
        sa.Column('record_key', sa.String(length=128), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('hub_value', sa.JSON(), nullable=True),
        sa.Column('updated_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_bases')),
        sa.UniqueConstraint('source', 'target', 'record_key', 'field', name=op.f('uq_sync_bases_source_target_record_key_field')),
    )
    op.create_table(
        'field_history',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('target', sa.String(length=32), nullable=False),
        sa.Column('record_key', sa.String(length=128), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('lost', sa.JSON(), nullable=True),
        sa.Column('lost_side', sa.String(length=16), nullable=False),
        sa.Column('won', sa.JSON(), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('recorded_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_field_history')),
    )
    with op.batch_alter_table('field_history', schema=None) as batch_op:
        batch_op.create_index('ix_field_history_record', ['source', 'target', 'record_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('field_history', schema=None) as batch_op:
        batch_op.drop_index('ix_field_history_record')
    op.drop_table('field_history')
    op.drop_table('sync_bases')
