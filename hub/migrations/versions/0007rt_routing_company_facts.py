"""routing and KPIs: the referred company's country and industry; a registration's decision

Revision ID: 0007rt
Revises: 0006pp
Create Date: 2026-12-07 15:30:00

The owner rules route a new deal by the referred company's country and industry too
(``hub.program.routing``); the referral and deal-registration forms may give them. A deal
registration keeps when it was first decided and by whom (the automatic check: ``program``), for
the processing-time and automated-share KPIs (``hub.program.lifecycle_kpis``), whose counts of a
period read these indexes: registrations by decision, mails by kind, audit entries by action,
onboarding reminders and escalations.
"""

import sqlalchemy as sa
from alembic import op

import hub.pipeline.store

revision = '0007rt'
down_revision = '0006pp'
branch_labels = None
depends_on = None

TABLES = ('referrals', 'deal_registrations')
INDEXES = (
    ('ix_deal_registrations_decided', 'deal_registrations', ['decided_at', 'decided_by', 'created_at']),
    ('ix_notifications_kind_created', 'notifications', ['kind', 'created_at']),
    ('ix_audit_log_action_at', 'audit_log', ['action', 'at', 'actor']),
    ('ix_onboarding_steps_reminded', 'onboarding_steps', ['reminded_at']),
    ('ix_onboarding_steps_escalated', 'onboarding_steps', ['escalated_at']),
)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('company_country', sa.String(length=2), nullable=True))
            batch_op.add_column(sa.Column('company_industry', sa.String(length=64), nullable=True))
    with op.batch_alter_table('deal_registrations') as batch_op:
        batch_op.add_column(sa.Column('decided_at', hub.pipeline.store.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=200), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table('deal_registrations') as batch_op:
        batch_op.drop_column('decided_by')
        batch_op.drop_column('decided_at')
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('company_industry')
            batch_op.drop_column('company_country')
