"""console: covering indexes for the dashboard's KPIs and the events chart

Revision ID: 0006cn
Revises: 0006wb
Create Date: 2026-12-07 07:00:00

The KPIs group every referral by partner and by month, the ledger by currency and status, and
the events chart the last two weeks' inbox events by connector and day. These indexes hold every
column those queries read, so they scan the index and never the wide rows (history, payloads).
"""

from alembic import op

revision = '0006cn'
down_revision = '0006wb'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_referrals_partner_created_status', 'referrals', ['partner_id', 'created_at', 'status'])
    op.create_index('ix_ledger_entries_totals', 'ledger_entries', ['currency', 'status', 'created_at', 'amount_minor'])
    op.create_index('ix_inbox_events_flow', 'inbox_events', ['received_at', 'connector', 'state'])


def downgrade() -> None:
    op.drop_index('ix_inbox_events_flow', table_name='inbox_events')
    op.drop_index('ix_ledger_entries_totals', table_name='ledger_entries')
    op.drop_index('ix_referrals_partner_created_status', table_name='referrals')
