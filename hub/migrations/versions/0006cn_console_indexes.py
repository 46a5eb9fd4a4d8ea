"""console: covering indexes for the dashboard's KPIs and the events chart

Revision ID: 0006cn
Revises: 0006wr
Create Date: 2026-12-07 07:00:00

The KPIs group every referral by partner, count them per month and recent window (range counts
on ``created_at``) and per status (won; held: the review badge), sum the ledger by currency and
status, and the events chart groups the last two weeks' inbox events by connector and day. These
indexes hold every column those queries read, so they read the index and never the wide rows
(history, payloads). The held commissions (a handful) get a partial index of their own; the
sign-in mails are found by address for a partner's page.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006cn'
down_revision = '0006wr'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_referrals_partner_created_status', 'referrals', ['partner_id', 'created_at', 'status'])
    op.create_index('ix_referrals_created_partner', 'referrals', ['created_at', 'partner_id'])
    op.create_index('ix_referrals_status_partner', 'referrals', ['status', 'partner_id', 'created_at'])
    op.create_index('ix_ledger_entries_totals', 'ledger_entries', ['currency', 'status', 'created_at', 'amount_minor'])
    op.create_index(
        'ix_ledger_entries_held',
        'ledger_entries',
        ['held_at'],
        sqlite_where=sa.text('hold_reason IS NOT NULL'),
        postgresql_where=sa.text('hold_reason IS NOT NULL'),
    )
    op.create_index('ix_inbox_events_flow', 'inbox_events', ['received_at', 'connector', 'state'])
    op.create_index('ix_notifications_to_email', 'notifications', ['to_email'])


def downgrade() -> None:
    op.drop_index('ix_notifications_to_email', table_name='notifications')
    op.drop_index('ix_inbox_events_flow', table_name='inbox_events')
    op.drop_index('ix_ledger_entries_held', table_name='ledger_entries')
    op.drop_index('ix_ledger_entries_totals', table_name='ledger_entries')
    op.drop_index('ix_referrals_status_partner', table_name='referrals')
    op.drop_index('ix_referrals_created_partner', table_name='referrals')
    op.drop_index('ix_referrals_partner_created_status', table_name='referrals')
