"""partner health: the daily score history, at-risk tasks, e-mail engagement

Revision ID: 0007hs
Revises: 0007rt
Create Date: 2026-12-07 15:30:00

``partner_health`` keeps one score per partner per UTC day with its parts; ``at_risk_tasks`` one
row per at-risk spell (``open_partner_id`` unique while open: one open task per partner);
``notifications.engaged_at`` the first open or click the e-mail provider reported.
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store


revision = '0007hs'
down_revision = '0007rt'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('partner_health',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('partner_id', _ID, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('parts', sa.JSON(), nullable=False),
    sa.Column('computed_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_health_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_health')),
    sa.UniqueConstraint('partner_id', 'day', name=op.f('uq_partner_health_partner_id_day'))
    )
    op.create_index('ix_partner_health_day', 'partner_health', ['day'], unique=False)
    op.create_table('at_risk_tasks',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('partner_id', _ID, nullable=False),
    sa.Column('open_partner_id', sa.BigInteger(), nullable=True),
    sa.Column('opened_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_score', sa.Integer(), nullable=False),
    sa.Column('closed_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_score', sa.Integer(), nullable=True),
    sa.Column('closed_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_at_risk_tasks_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_at_risk_tasks')),
    sa.UniqueConstraint('open_partner_id', name=op.f('uq_at_risk_tasks_open_partner_id'))
    )
    op.create_index(op.f('ix_at_risk_tasks_partner_id'), 'at_risk_tasks', ['partner_id'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('engaged_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('engaged_at')
    op.drop_index(op.f('ix_at_risk_tasks_partner_id'), table_name='at_risk_tasks')
    op.drop_table('at_risk_tasks')
    op.drop_index('ix_partner_health_day', table_name='partner_health')
    op.drop_table('partner_health')
